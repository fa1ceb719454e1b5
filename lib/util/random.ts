/**
 * The project's one seeded PRNG (training, augmentation, data splits and order, sample data, random
 * weights, layouts): xoshiro128**, seeded by splitmix32, whose whole state is four uint32s, so a
 * checkpoint can store it and a resumed run draws exactly the numbers the original would.
 */

import { createHash } from 'crypto';

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | RngState) {
    if (typeof seed === 'number') {
      const sm = splitmix32(seed);
      this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    } else {
      this.s = Uint32Array.from(seed);
    }
    if (this.s.every((v) => v === 0)) throw new Error('Rng: all-zero state is not allowed for xoshiro128**');
  }

  /** Independent stream for one purpose (data order of epoch e, init of one tensor...). */
  static derive(seed: number, ...keys: number[]): Rng {
    let h = seed >>> 0;
    for (const k of keys) h = splitmix32(h ^ Math.imul(k + 1, 0x9e3779b1))();
    return new Rng(h);
  }

  /** A stream named by a string (sha256 of it): e.g. each sample view's draws do not depend on build order. */
  static fromKey(key: string): Rng {
    return new Rng(createHash('sha256').update(key).digest().readUInt32LE(0));
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller; uses two uniforms per draw so the stream position stays simple). */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** A shuffled copy of `items` (Fisher–Yates, the same draws as permutation). */
  shuffled<T>(items: readonly T[]): T[] {
    return Array.from(this.permutation(items.length), (i) => items[i]);
  }

  state(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }
}

/** n standard-normal floats from one seeded stream (reproducible synthetic data for tests and benchmarks). */
export function gaussian(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal();
  return out;
}
