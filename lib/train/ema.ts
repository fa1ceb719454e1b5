/**
 * Exponential moving average of the weights (timm's ModelEmaV3 with warm-up: after optimizer update
 * t (0-based), avg = d_t·avg + (1-d_t)·w with d_t = min(decay, (1+t)/(10+t)), so a short run's average
 * is not stuck near the initial weights). Checkpoints carry the averages as "ema/<name>" so a resumed run continues them
 * exactly; validation and the `best` checkpoint see the averaged weights, swapped into the model's
 * variables for the duration and swapped back before training goes on.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from './checkpoint';
import type { Param } from './optim';

export const EMA_PREFIX = 'ema/';

export class WeightEma {
  private readonly avg = new Map<string, tf.Variable>();

  /** Starts from the model's weights, or from a checkpoint's "ema/<name>" entries when given. */
  constructor(
    params: readonly Param[],
    readonly decay: number,
    saved?: ReadonlyMap<string, NamedArray>,
  ) {
    if (!(decay > 0 && decay < 1)) throw new Error(`ema decay ${decay}: must be in (0, 1)`);
    for (const p of params) {
      const s = saved?.get(EMA_PREFIX + p.name);
      if (s && s.values.length !== p.variable.size) throw new Error(`checkpoint: "${EMA_PREFIX}${p.name}" has ${s.values.length} values, the model expects ${p.variable.size}`);
      this.avg.set(p.name, tf.variable(s ? tf.tensor(s.values, p.variable.shape, 'float32') : p.variable.clone(), false));
    }
  }

  /** The decay after update t (0-based): warm-up, then `decay`. */
  decayAt(t: number): number {
    return Math.min(this.decay, (1 + t) / (10 + t));
  }

  /** avg = d_t·avg + (1-d_t)·w for the parameters just updated by update t (0-based). */
  update(trained: readonly Param[], t: number): void {
    const d = this.decayAt(t);
    tf.tidy(() => {
      for (const p of trained) {
        const a = this.avg.get(p.name)!;
        a.assign(tf.add(tf.mul(a, d), tf.mul(p.variable, 1 - d)));
      }
    });
  }

  /** Runs `fn` with the averages in the model's variables, then restores the trained weights. */
  async swapped<T>(params: readonly Param[], fn: () => Promise<T> | T): Promise<T> {
    const trained = params.map((p) => p.variable.clone());
    params.forEach((p) => p.variable.assign(this.avg.get(p.name)!));
    try {
      return await fn();
    } finally {
      params.forEach((p, i) => p.variable.assign(trained[i]));
      tf.dispose(trained);
    }
  }

  /** The averages as checkpoint entries. */
  entries(): Map<string, NamedArray> {
    return new Map([...this.avg].map(([name, v]) => [EMA_PREFIX + name, { shape: v.shape, values: v.dataSync() as Float32Array }]));
  }

  dispose(): void {
    for (const v of this.avg.values()) v.dispose();
  }
}
