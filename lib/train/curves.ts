/** Training curves as a Plotly figure: loss and lr per step, validation mP@5 per epoch (stacked, shared x = step). */
import * as fs from 'fs';
import type { PlotlyFigure } from '../viz/plotly';
import type { EpochRecord, StepRecord } from './train-config';

export interface TrainingHistory {
  steps: StepRecord[];
  epochs: EpochRecord[];
}

/** Reads a run's metrics.jsonl (a half-written last line from a killed run is ignored). */
export function readMetricsLog(file: string): TrainingHistory {
  const h: TrainingHistory = { steps: [], epochs: [] };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.endsWith('}')) continue;
    const r = JSON.parse(line) as StepRecord | EpochRecord;
    if (r.type === 'step') h.steps.push(r);
    else h.epochs.push(r);
  }
  return h;
}

export function trainingCurvesFigure(h: TrainingHistory, title = 'training'): PlotlyFigure {
  const sources = [...new Set(h.epochs.flatMap((e) => Object.keys(e.valBySource)))].sort();
  const valX = h.epochs.map((e) => e.step);
  return {
    data: [
      { type: 'scatter', mode: 'lines', name: 'train loss', x: h.steps.map((s) => s.step), y: h.steps.map((s) => s.loss), xaxis: 'x', yaxis: 'y' },
      { type: 'scatter', mode: 'lines', name: 'lr', x: h.steps.map((s) => s.step), y: h.steps.map((s) => s.lr), xaxis: 'x', yaxis: 'y2' },
      { type: 'scatter', mode: 'lines+markers', name: 'val mP@5', x: valX, y: h.epochs.map((e) => e.valMP5), xaxis: 'x', yaxis: 'y3' },
      ...(sources.length > 1
        ? sources.map((s) => ({ type: 'scatter', mode: 'lines', line: { dash: 'dot' }, name: `val mP@5 ${s}`, x: valX, y: h.epochs.map((e) => e.valBySource[s] ?? null), xaxis: 'x', yaxis: 'y3' }))
        : []),
    ],
    layout: {
      title: { text: title },
      grid: { rows: 3, columns: 1, shared_xaxes: true, roworder: 'top to bottom' },
      xaxis: { title: { text: 'optimizer step' }, anchor: 'y3' },
      yaxis: { title: { text: 'loss' }, domain: [0.7, 1] },
      yaxis2: { title: { text: 'lr' }, domain: [0.37, 0.63], exponentformat: 'e' },
      yaxis3: { title: { text: 'val mP@5' }, domain: [0, 0.3], range: [0, 1] },
    },
  };
}
