/**
 * Upload decoding for `guie serve` in child processes (lib/jig/decode-child.ts). A decode past its deadline
 * is ended by killing its process: libvips checks sharp's own timeout only between tiles, in whole seconds,
 * and not at all while it loads an interlaced PNG. A process whose memory grew past `recycleBytes` is
 * replaced after its job, so what a burst of huge images took is given back to the system, not kept by
 * the allocator of the server.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import type { Preprocess } from '../core/preprocess';
import { compiledPath } from '../util/paths';
import { ImageError, type DecodedImage, type ImageLimits } from './image';

export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
  preprocess: Preprocess;
  limits: ImageLimits;
  what: string;
}

export type DecodeReply = { id: number; rss: number } & ({ image: DecodedImage } | { error: { status: number; message: string } });

export interface DecodePoolOptions {
  /** Decoder processes (uploads decoded at once). */
  processes: number;
  /** Deadline of one decode, milliseconds from the moment its process gets it. */
  deadlineMs: number;
  /** A process over this resident size after a job is replaced. */
  recycleBytes: number;
}

export interface DecodePoolStats {
  processes: number;
  started: number;
  timedOut: number;
  /** Decodes ended because the client went away. */
  cancelled: number;
  recycled: number;
  crashed: number;
}

interface Decoder {
  child: ChildProcess;
  /** Settles once the process has loaded (its first message), or fails if it exits first. */
  ready: Promise<void>;
  job: { id: number; done: (r: DecodeReply | Error) => void } | null;
}

export function decodeChildScript(): string {
  const file = compiledPath('lib', 'jig', 'decode-child.js');
  if (!fs.existsSync(file)) throw new Error(`guie serve's decoder is not built (${file} missing): run \`npm run build\``);
  return file;
}

export class DecodePool {
  private readonly decoders = new Set<Decoder>();
  private readonly idle: Decoder[] = [];
  private readonly waiting: Array<(d: Decoder) => void> = [];
  private readonly counts = { started: 0, timedOut: 0, cancelled: 0, recycled: 0, crashed: 0 };
  private seq = 0;
  private closed = false;

  constructor(readonly opts: DecodePoolOptions) {
    // started up front: the first uploads should not pay for a process start
    for (let i = 0; i < opts.processes; i++) this.idle.push(this.spawn());
  }

  /** Resolves once every decoder process has loaded. */
  async ready(): Promise<void> {
    await Promise.all([...this.decoders].map((d) => d.ready));
  }

  /** The upload's pixels at the embedder's input size, or an ImageError (413 past the deadline); `signal` cancels (the client left). */
  async decode(bytes: Uint8Array, preprocess: Preprocess, limits: ImageLimits, what: string, signal?: AbortSignal): Promise<DecodedImage> {
    const d = await this.acquire();
    await d.ready;
    if (signal?.aborted) {
      this.release(d);
      throw new Error(`${what}: cancelled`);
    }
    const id = ++this.seq;
    const reply = await new Promise<DecodeReply | Error>((done) => {
      const settle = (r: DecodeReply | Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        d.job = null;
        done(r);
      };
      const stop = (count: 'timedOut' | 'cancelled', why: Error) => {
        this.counts[count]++;
        this.retire(d);
        settle(why);
      };
      const cancel = () => stop('cancelled', new Error(`${what}: cancelled`));
      const timer = setTimeout(() => stop('timedOut', new ImageError(413, `${what}: decoding took over ${this.opts.deadlineMs / 1000} s: too much work for one image (deadline: --decode-seconds)`)), this.opts.deadlineMs);
      signal?.addEventListener('abort', cancel, { once: true });
      d.job = { id, done: settle };
      d.child.send({ id, bytes, preprocess, limits, what } satisfies DecodeRequest);
    });
    if (reply instanceof Error) throw reply;
    if (reply.rss > this.opts.recycleBytes) {
      this.counts.recycled++;
      this.retire(d);
    } else this.release(d);
    if ('error' in reply) throw reply.error.status === 500 ? new Error(reply.error.message) : new ImageError(reply.error.status as ImageError['status'], reply.error.message);
    return reply.image;
  }

  stats(): DecodePoolStats {
    return { processes: this.decoders.size, ...this.counts };
  }

  close(): void {
    this.closed = true;
    for (const d of [...this.decoders]) this.retire(d);
  }

  private spawn(): Decoder {
    const child = fork(decodeChildScript(), [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let loaded!: () => void;
    let failed!: (e: Error) => void;
    const ready = new Promise<void>((ok, fail) => {
      loaded = ok;
      failed = fail;
    });
    ready.catch(() => undefined); // awaited by decode() and ready(); unawaited, a failure must not crash the server
    const d: Decoder = { child, job: null, ready };
    this.counts.started++;
    this.decoders.add(d);
    child.on('message', (r: DecodeReply | { ready: true }) => {
      if ('ready' in r) loaded();
      else if (d.job?.id === r.id) d.job.done(r);
    });
    // a send to a process that just died: its exit handler below fails the job and replaces it
    child.on('error', (e) => d.job?.done(e));
    child.on('exit', (code, signal) => {
      failed(new Error(`decoder process exited (${signal ?? `code ${code}`}) before it loaded`));
      if (!this.decoders.delete(d)) return; // retired on purpose
      this.counts.crashed++;
      const i = this.idle.indexOf(d);
      if (i >= 0) this.idle.splice(i, 1);
      d.job?.done(new Error(`decoder process exited (${signal ?? `code ${code}`}) while decoding`));
      this.replace();
    });
    return d;
  }

  private acquire(): Promise<Decoder> {
    if (this.closed) return Promise.reject(new Error('decode pool is closed'));
    const d = this.idle.pop();
    return d ? Promise.resolve(d) : new Promise((go) => this.waiting.push(go));
  }

  private release(d: Decoder): void {
    const next = this.waiting.shift();
    if (next) next(d);
    else this.idle.push(d);
  }

  /** Kills a process (deadline, recycling, close) and starts its successor. */
  private retire(d: Decoder): void {
    if (!this.decoders.delete(d)) return;
    d.child.kill('SIGKILL');
    this.replace();
  }

  private replace(): void {
    if (!this.closed && this.decoders.size < this.opts.processes) this.release(this.spawn());
  }
}
