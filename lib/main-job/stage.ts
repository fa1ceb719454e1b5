/** The main job's stages: each logged as "== <name>", timed, and summed up in one line (stages.txt, summary.json). */

export interface StageRecord {
  stage: string;
  seconds: number;
  result: string;
}

export type Stage = <T>(name: string, fn: () => Promise<T>, summary: (r: T) => string) => Promise<T>;

/** A `stage` that logs and times each stage it runs into `records`. */
export function stageRunner(log: (line: string) => void): { stage: Stage; records: StageRecord[] } {
  const records: StageRecord[] = [];
  const stage: Stage = async (name, fn, summary) => {
    log(`== ${name}`);
    const t0 = Date.now();
    const r = await fn();
    const rec = { stage: name, seconds: (Date.now() - t0) / 1000, result: summary(r) };
    records.push(rec);
    log(`   ${rec.result} (${rec.seconds.toFixed(1)} s)`);
    return r;
  };
  return { stage, records };
}

export function formatStages(stages: StageRecord[]): string {
  const w = Math.max(...stages.map((s) => s.stage.length));
  const total = stages.reduce((a, s) => a + s.seconds, 0);
  return [
    `${'stage'.padEnd(w)}  ${'time'.padStart(8)}  result`,
    ...stages.map((s) => `${s.stage.padEnd(w)}  ${s.seconds.toFixed(1).padStart(7)}s  ${s.result}`),
    `${'total'.padEnd(w)}  ${total.toFixed(1).padStart(7)}s`,
  ].join('\n');
}
