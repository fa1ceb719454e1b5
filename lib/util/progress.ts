/**
 * Progress for long work: a cli-progress bar with ETA on a terminal, periodic plain lines
 * elsewhere (CI logs, notebooks), and an optional callback so notebooks can drive a live display.
 */
import { SingleBar, Presets } from 'cli-progress';

export interface ProgressOptions {
  label: string;
  total: number;
  /** Called on every update (notebook live displays). */
  onUpdate?: (done: number, total: number, extra: Record<string, string | number>) => void;
  /** Force the mode: 'bar' (TTY), 'lines' (logs) or 'silent'. */
  mode?: 'bar' | 'lines' | 'silent';
  stream?: NodeJS.WriteStream;
}

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  increment(by?: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

export function progress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const mode = opts.mode ?? (process.env.GUIE_PROGRESS as ProgressOptions['mode']) ?? (stream.isTTY ? 'bar' : 'lines');
  let done = 0;
  let extra: Record<string, string | number> = {};
  const start = Date.now();
  let lastLine = 0;
  const fmtExtra = () => Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ');
  const bar =
    mode === 'bar'
      ? new SingleBar(
          { format: `${opts.label} [{bar}] {percentage}% {value}/{total} ETA {eta_formatted} {extra}`, stream, hideCursor: true },
          Presets.shades_classic,
        )
      : null;
  bar?.start(opts.total, 0, { extra: '' });
  const render = () => {
    opts.onUpdate?.(done, opts.total, extra);
    if (bar) return bar.update(done, { extra: fmtExtra() });
    if (mode !== 'lines') return;
    const now = Date.now();
    if (now - lastLine < 5000 && done < opts.total) return;
    lastLine = now;
    const secs = (now - start) / 1000;
    const eta = done > 0 ? ((opts.total - done) * secs) / done : NaN;
    stream.write(`${opts.label}: ${done}/${opts.total} ${secs.toFixed(1)}s ETA ${Number.isFinite(eta) ? eta.toFixed(0) + 's' : '?'} ${fmtExtra()}\n`);
  };
  return {
    update(n, e) {
      done = n;
      if (e) extra = e;
      render();
    },
    increment(by = 1, e) {
      done += by;
      if (e) extra = e;
      render();
    },
    stop() {
      bar?.stop();
    },
  };
}
