/**
 * One decoder process of `guie serve` (lib/jig/decode-pool.ts): checks, decodes and resizes one upload at a
 * time and sends back only the model-size pixels, so the full-size buffers live and die here.
 */
import { decodeForEmbedder, ImageError } from './image';
import type { DecodeReply, DecodeRequest } from './decode-pool';

process.on('message', (m: DecodeRequest) => {
  decodeForEmbedder(m.bytes, m.preprocess, m.limits, m.what).then(
    (image) => process.send?.({ id: m.id, image, rss: process.memoryUsage().rss } satisfies DecodeReply),
    (e: unknown) => {
      const error = e instanceof ImageError ? { status: e.status, message: e.message } : { status: 500, message: e instanceof Error ? e.message : String(e) };
      process.send?.({ id: m.id, error, rss: process.memoryUsage().rss } satisfies DecodeReply);
    },
  );
});
// the pool going away (a crash, kill -9) must not leave decoders behind
process.on('disconnect', () => process.exit(0));
// loaded (sharp included): deadlines count from here, not from the process start
process.send?.({ ready: true });
