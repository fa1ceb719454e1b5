/**
 * safetensors files (8-byte little-endian header length, JSON header, raw little-endian data),
 * read tensor by tensor with positioned reads so a 2.5 GB ViT-H file never sits in memory whole.
 * F32, F16 and BF16 (and F64) are returned as float32.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

if (os.endianness() !== 'LE') throw new Error('safetensors reader assumes a little-endian host');

/** IEEE half -> float (exact: every half is a float). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decode(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const buf = bytes.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, bytes.byteOffset, bytes.byteLength / 4);
    case 'F64':
      return Float32Array.from(new Float64Array(buf, bytes.byteOffset, bytes.byteLength / 8));
    case 'F16': {
      const src = new Uint16Array(buf, bytes.byteOffset, bytes.byteLength / 2);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32
      const src = new Uint16Array(buf, bytes.byteOffset, bytes.byteLength / 2);
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
  }
}

export class SafetensorsFile {
  readonly file: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private fd: number | null;

  private constructor(file: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.file = file;
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates the header; throws naming the file and what is wrong. */
  static open(file: string): SafetensorsFile {
    if (!fs.existsSync(file)) throw new Error(`${file}: no such safetensors file`);
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      const fail = (msg: string): never => {
        throw new Error(`${file}: not a valid safetensors file: ${msg}`);
      };
      if (size < 8) fail(`only ${size} bytes`);
      const lenBuf = Buffer.alloc(8);
      fs.readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) fail(`header length ${headerLen} does not fit in ${size} bytes`);
      const headerBuf = Buffer.alloc(headerLen);
      fs.readSync(fd, headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        return fail(`header is not JSON (${(e as Error).message})`);
      }
      const dataStart = 8 + headerLen;
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, v] of Object.entries(header)) {
        if (name === '__metadata__') {
          metadata = v as Record<string, string>;
          continue;
        }
        const info = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
        if (!(info.dtype in BYTES)) fail(`tensor "${name}" has dtype ${info.dtype}; supported: ${Object.keys(BYTES).join(', ')}`);
        const dtype = info.dtype as SafetensorsDtype;
        const [b, e] = info.data_offsets;
        const n = info.shape.reduce((a, c) => a * c, 1);
        if (e - b !== n * BYTES[dtype]) fail(`tensor "${name}" [${info.shape}] ${dtype} spans ${e - b} bytes, expected ${n * BYTES[dtype]}`);
        if (dataStart + e > size) fail(`tensor "${name}" ends at byte ${dataStart + e}, beyond the file's ${size} bytes (truncated download?)`);
        tensors.set(name, { dtype, shape: info.shape, begin: dataStart + b, end: dataStart + e });
      }
      return new SafetensorsFile(file, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  /** Reads one tensor as float32 (row-major, the file's shape). */
  read(name: string): { shape: number[]; data: Float32Array } {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`${this.file}: no tensor "${name}"`);
    if (this.fd === null) throw new Error(`${this.file}: already closed`);
    const bytes = new Uint8Array(info.end - info.begin);
    let done = 0;
    while (done < bytes.length) {
      const n = fs.readSync(this.fd, bytes, done, bytes.length - done, info.begin + done);
      if (n === 0) throw new Error(`${this.file}: unexpected end of file reading "${name}"`);
      done += n;
    }
    return { shape: info.shape, data: decode(bytes, info.dtype) };
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Writes float32 tensors as a safetensors file, one tensor at a time, atomically
 * (temporary sibling + rename). `get` is called per tensor so large models stream out.
 */
export function writeSafetensors(file: string, shapes: Array<[string, number[]]>, get: (name: string) => Float32Array, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, c) => a * c, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned
  const jsonBuf = Buffer.from(json, 'utf8');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(jsonBuf.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, jsonBuf);
    for (const [name, shape] of shapes) {
      const data = get(name);
      if (data.length !== shape.reduce((a, c) => a * c, 1)) throw new Error(`${file}: tensor "${name}" has ${data.length} values for shape [${shape}]`);
      fs.writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
