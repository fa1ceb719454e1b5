/** worker_threads entry for the input pipeline (runs from dist/lib/data/worker.js). */
import { parentPort, workerData } from 'worker_threads';
import sharp from 'sharp';
import { transformSample, type TransformSpec } from './transform';

export interface WorkerTask {
  seq: number;
  bytes: Uint8Array;
  name: string;
  seed: number;
}
export type WorkerResult = { seq: number; data: Uint8Array } | { seq: number; error: string };

if (parentPort) {
  const port = parentPort;
  const spec = workerData as TransformSpec;
  // Parallelism comes from the worker count; one libvips thread per worker avoids oversubscription.
  sharp.concurrency(1);
  sharp.cache(false);
  port.on('message', (task: WorkerTask) => {
    transformSample(task.bytes, task.name, task.seed, spec)
      .then((pixels) => {
        // The pixels may view a larger buffer (sharp's pool): move a fresh copy (150 KB at 224 px).
        const data = new Uint8Array(pixels);
        port.postMessage({ seq: task.seq, data } satisfies WorkerResult, [data.buffer]);
      })
      .catch((e: Error) => port.postMessage({ seq: task.seq, error: e.message } satisfies WorkerResult));
  });
}
