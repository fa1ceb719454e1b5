/** What `guie serve` answers and how much it takes on: the server (server.ts) and its OpenAPI text (openapi.ts) both read these. */
import { DEFAULT_LIMITS, type ImageLimits } from './image';

export interface ServeOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  limits: ImageLimits;
  /** Default and largest k a search may ask for. */
  k: number;
  maxK: number;
  /** Host names (no port) answered besides the loopback names and the bound address; "*" answers any Host. */
  allowedHosts: readonly string[];
  /**
   * Uploads decoded and embedded at once, and how many more may wait for a turn. Images over `largePixels`
   * (read from their header) decode in a lane of their own, one at a time, so a flood of huge uploads never
   * queues an ordinary query behind it. Decoding runs in child processes (lib/jig/decode-pool.ts); one whose
   * resident size is over `recycleBytes` after a job is replaced, giving a burst's memory back.
   */
  decodes: { concurrent: number; queued: number; largePixels: number; recycleBytes: number };
  /** Longest request target (path + query) in bytes; longer is 414. Headers over Node's 16 KiB are 431. */
  maxUrlBytes: number;
}

export const DEFAULT_SERVE: ServeOptions = { host: '127.0.0.1', port: 8080, limits: DEFAULT_LIMITS, k: 5, maxK: 50, allowedHosts: [], decodes: { concurrent: 2, queued: 16, largePixels: 4_000_000, recycleBytes: 384 * 2 ** 20 }, maxUrlBytes: 8192 };
