/** How many uploads `guie serve` reads, decodes and embeds at once, and how many may wait; beyond that 503 at once. */
import { HttpError } from './http-error';

/** At most `concurrent` tasks at once and `queued` waiting; a task beyond that is refused with 503 at once. */
export class DecodeLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limits: { concurrent: number; queued: number },
    private readonly what = 'uploads',
  ) {}

  /** What /api/stats shows: tasks holding a slot and tasks waiting for one. */
  state(): { running: number; waiting: number } {
    return { running: this.active, waiting: this.waiting.length };
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limits.concurrent) {
      if (this.waiting.length >= this.limits.queued) throw new HttpError(503, `busy: ${this.active} ${this.what} decoding and ${this.waiting.length} waiting; try again shortly`, { 'Retry-After': '1' });
      await new Promise<void>((go) => this.waiting.push(go));
    } else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
