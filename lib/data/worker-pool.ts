/** The worker threads that decode, resize and augment images off the main thread (the input pipeline and the image datasets use them). */
import * as fs from 'fs';
import { Worker } from 'worker_threads';
import { compiledPath } from '../util/paths';
import type { TransformSpec } from './transform';
import type { WorkerResult, WorkerTask } from './worker';

/** Worker threads need JS: dist/lib/data/worker.js, also when this module runs from TypeScript sources (ts-jest). */
function workerScript(): string {
  const file = compiledPath('lib', 'data', 'worker.js');
  if (!fs.existsSync(file)) throw new Error(`pipeline worker not built (${file} missing): run \`npx tsc -p tsconfig.json\``);
  return file;
}

/** Image work on worker threads: each task goes to the least busy worker. */
export class WorkerPool {
  private readonly workers: Worker[];
  private readonly busy: number[];
  private readonly waiting = new Map<number, { resolve: (r: WorkerResult) => void; worker: number }>();
  private failure: Error | null = null;
  private closing = false;

  constructor(n: number, spec: TransformSpec) {
    const script = workerScript();
    this.workers = Array.from({ length: n }, () => new Worker(script, { workerData: spec }));
    this.busy = this.workers.map(() => 0);
    this.workers.forEach((w, i) => {
      w.on('message', (r: WorkerResult) => {
        const entry = this.waiting.get(r.seq);
        if (!entry) return;
        this.waiting.delete(r.seq);
        this.busy[i] -= 1;
        entry.resolve(r);
      });
      const fail = (why: string) => {
        this.failure = new Error(`pipeline worker ${i} ${why}`);
        for (const [seq, entry] of this.waiting) if (entry.worker === i) entry.resolve({ seq, error: this.failure.message });
      };
      w.on('error', (e) => fail(`crashed: ${e.message}`));
      w.on('exit', (code) => {
        if (!this.closing) fail(`exited with code ${code}`);
      });
    });
  }

  run(task: WorkerTask): Promise<WorkerResult> {
    if (this.failure) throw this.failure;
    let i = 0;
    for (let k = 1; k < this.busy.length; k++) if (this.busy[k] < this.busy[i]) i = k;
    this.busy[i] += 1;
    return new Promise((resolve) => {
      this.waiting.set(task.seq, { resolve, worker: i });
      // Copy: the record's bytes may share a buffer we still need; the copy is transferred, not cloned.
      const bytes = new Uint8Array(task.bytes);
      this.workers[i].postMessage({ ...task, bytes }, [bytes.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
