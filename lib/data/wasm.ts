/**
 * The pixel kernels: AssemblyScript sources in lib/data/wasm/ (resample.ts, jitter.ts), built into
 * one WebAssembly module, dist/lib/data/pixels.wasm, by `npm run build`. Integer and IEEE float
 * arithmetic only, so results are the same on every machine. One instance per thread (worker
 * threads each get their own), compiled on first use.
 */
import * as fs from 'fs';
import { compiledPath } from '../util/paths';

// The WebAssembly global, as far as this module uses it (the project's lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
};

export interface PixelKernels {
  memory: WasmMemory;
  /** First byte after the module's static data: callers lay their buffers out from here. */
  heapBase(): number;
  /** lib/data/wasm/resample.ts */
  scratchBytes(cropW: number, cropH: number, outW: number, outH: number, filter: number): number;
  resize(src: number, srcW: number, left: number, top: number, cropW: number, cropH: number, dst: number, outW: number, outH: number, flip: boolean, filter: number, tmp: number, scratch: number): void;
  /** lib/data/wasm/jitter.ts */
  jitterScratchBytes(): number;
  colorJitter(data: number, pixels: number, brightness: number, contrast: number, saturation: number, scratch: number): void;
}

let kernels: PixelKernels | null = null;

export function pixelKernels(): PixelKernels {
  if (kernels) return kernels;
  const file = compiledPath('lib', 'data', 'pixels.wasm');
  if (!fs.existsSync(file)) throw new Error(`pixel kernels not built (${file} missing): run \`npm run build\``);
  const abort = () => {
    throw new Error(`${file}: abort`);
  };
  kernels = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), { env: { abort } }).exports as unknown as PixelKernels;
  return kernels;
}

/** 16-byte aligned offset. */
export const align16 = (n: number): number => (n + 15) & ~15;

/** Grows the memory to at least `bytes` and returns a view of all of it (views taken before a grow are detached). */
export function heap(k: PixelKernels, bytes: number): Uint8Array {
  const missing = bytes - k.memory.buffer.byteLength;
  if (missing > 0) k.memory.grow(Math.ceil(missing / 65536));
  return new Uint8Array(k.memory.buffer);
}
