/**
 * TensorFlow's checkpoint format V2 ("TensorBundle", tensorflow/core/util/tensor_bundle):
 *   PREFIX.data-00000-of-00001  raw little-endian tensor bytes, back to back
 *   PREFIX.index                a LevelDB-style SSTable (tensorflow/core/lib/io/table_builder.cc):
 *                               key "" -> BundleHeaderProto, then sorted tensor names -> BundleEntryProto
 *                               (dtype, shape, offset, size, masked crc32c of the bytes).
 * Tensors stream to disk one at a time, so a model larger than protobuf's 2 GB limit is fine.
 */
import * as fs from 'fs';
import { crc32c } from '@node-rs/crc32';
import { maskCrc } from '../data/tfrecord';
import type { DType, HostTensor, TensorData } from './graph';
import { numel } from '../core/layout';
import { BYTES_PER, bytesOf, dtypeFromTf, shapeFromProto, shapeToProto, TF_DTYPE, typedFromBytes, type ShapeProto } from './graphdef';
import { decode, encode, TfProto } from './tf-protos';

const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]); // 0xdb4775248b80fb57 LE
const FOOTER_BYTES = 48; // two BlockHandles padded to 40 bytes + magic
const NO_COMPRESSION = 0;

export interface BundleTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export interface BundleEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  size: number;
  crc32c: number;
}

export const dataFile = (prefix: string): string => `${prefix}.data-00000-of-00001`;
export const indexFile = (prefix: string): string => `${prefix}.index`;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** One SSTable block, every entry a restart point (no key-prefix sharing: valid and simple). */
function buildBlock(entries: [string, Uint8Array][]): Buffer {
  const parts: Buffer[] = [];
  const restarts: number[] = [];
  let off = 0;
  for (const [k, v] of entries) {
    const key = Buffer.from(k, 'utf8');
    const head = Buffer.from([...varint(0), ...varint(key.length), ...varint(v.length)]);
    restarts.push(off);
    parts.push(head, key, Buffer.from(v));
    off += head.length + key.length + v.length;
  }
  if (restarts.length === 0) restarts.push(0);
  const tail = Buffer.alloc(4 * (restarts.length + 1));
  restarts.forEach((r, i) => tail.writeUInt32LE(r, 4 * i));
  tail.writeUInt32LE(restarts.length, 4 * restarts.length);
  return Buffer.concat([...parts, tail]);
}

function withTrailer(block: Buffer): Buffer {
  const trailer = Buffer.alloc(5);
  trailer[0] = NO_COMPRESSION;
  trailer.writeUInt32LE(maskCrc(crc32c(Buffer.concat([block, trailer.subarray(0, 1)]))), 1);
  return Buffer.concat([block, trailer]);
}

function buildTable(entries: [string, Uint8Array][]): Buffer {
  const data = withTrailer(buildBlock(entries));
  const meta = withTrailer(buildBlock([]));
  const handle = (offset: number, size: number): Uint8Array => Uint8Array.from([...varint(offset), ...varint(size)]);
  const lastKey = entries[entries.length - 1][0];
  const index = withTrailer(buildBlock([[lastKey, handle(0, data.length - 5)]]));
  const footer = Buffer.alloc(FOOTER_BYTES);
  Buffer.from([...handle(data.length, meta.length - 5), ...handle(data.length + meta.length, index.length - 5)]).copy(footer);
  TABLE_MAGIC.copy(footer, 40);
  return Buffer.concat([data, meta, index, footer]);
}

/**
 * Writes PREFIX.index and PREFIX.data-00000-of-00001. `tensors` may be a lazy iterable, so only one
 * tensor needs to be in memory at a time.
 */
export function writeTensorBundle(prefix: string, tensors: Iterable<BundleTensor>): BundleEntry[] {
  const entries: BundleEntry[] = [];
  const fd = fs.openSync(dataFile(prefix), 'w');
  try {
    let offset = 0;
    for (const t of tensors) {
      const bytes = bytesOf(t.data);
      if (t.data.length !== numel(t.shape)) throw new Error(`tensor "${t.name}": ${t.data.length} values for shape [${t.shape}]`);
      fs.writeSync(fd, bytes);
      entries.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset, size: bytes.length, crc32c: maskCrc(crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) });
      offset += bytes.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  const sorted = [...entries].sort((a, b) => compareBytes(a.name, b.name));
  for (let k = 1; k < sorted.length; k++) if (sorted[k].name === sorted[k - 1].name) throw new Error(`duplicate tensor name "${sorted[k].name}" in bundle ${prefix}`);
  const header = encode(TfProto.BundleHeaderProto, { numShards: 1, endianness: 'LITTLE', version: { producer: 1 } });
  const rows: [string, Uint8Array][] = [['', header]];
  for (const e of sorted) {
    const entry: Record<string, unknown> = { dtype: TF_DTYPE[e.dtype], shape: shapeToProto(e.shape), crc32c: e.crc32c };
    if (e.offset) entry.offset = e.offset;
    if (e.size) entry.size = e.size;
    rows.push([e.name, encode(TfProto.BundleEntryProto, entry)]);
  }
  fs.writeFileSync(indexFile(prefix), buildTable(rows));
  return entries;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 0x80;
  }
}

function readBlock(file: string, table: Buffer, offset: number, size: number): [string, Buffer][] {
  if (offset + size + 5 > table.length) throw new Error(`${file}: block at ${offset}+${size} runs past the end of the file`);
  const block = table.subarray(offset, offset + size);
  if (table[offset + size] !== NO_COMPRESSION) throw new Error(`${file}: compressed SSTable blocks are not supported`);
  const want = table.readUInt32LE(offset + size + 1);
  if (maskCrc(crc32c(table.subarray(offset, offset + size + 1))) !== want) throw new Error(`${file}: block at ${offset} fails its crc32c check`);
  const numRestarts = block.readUInt32LE(block.length - 4);
  const end = block.length - 4 * (numRestarts + 1);
  const out: [string, Buffer][] = [];
  let pos = 0;
  let key = Buffer.alloc(0);
  while (pos < end) {
    let shared: number, nonShared: number, vlen: number;
    [shared, pos] = readVarint(block, pos);
    [nonShared, pos] = readVarint(block, pos);
    [vlen, pos] = readVarint(block, pos);
    key = Buffer.concat([key.subarray(0, shared), block.subarray(pos, pos + nonShared)]);
    pos += nonShared;
    out.push([key.toString('utf8'), block.subarray(pos, pos + vlen)]);
    pos += vlen;
  }
  return out;
}

interface EntryObj { dtype?: string; shape?: ShapeProto; shardId?: number; offset?: number; size?: number; crc32c?: number }

/** Reads PREFIX.index: the tensors' names, dtypes, shapes and byte ranges. */
export function readBundleIndex(prefix: string): BundleEntry[] {
  const file = indexFile(prefix);
  if (!fs.existsSync(file)) throw new Error(`${file}: missing (a SavedModel needs variables/variables.index)`);
  const table = fs.readFileSync(file);
  if (table.length < FOOTER_BYTES || !table.subarray(table.length - 8).equals(TABLE_MAGIC)) throw new Error(`${file}: not a TensorFlow checkpoint index (bad SSTable magic)`);
  const footer = table.subarray(table.length - FOOTER_BYTES);
  let p = 0;
  let metaOff: number, metaSize: number, idxOff: number, idxSize: number;
  [metaOff, p] = readVarint(footer, p);
  [metaSize, p] = readVarint(footer, p);
  [idxOff, p] = readVarint(footer, p);
  [idxSize, p] = readVarint(footer, p);
  void metaOff; void metaSize;
  const entries: BundleEntry[] = [];
  for (const [, handle] of readBlock(file, table, idxOff, idxSize)) {
    const [off, q] = readVarint(handle, 0);
    const [size] = readVarint(handle, q);
    for (const [name, value] of readBlock(file, table, off, size)) {
      if (name === '') {
        const h = decode<{ numShards?: number; endianness?: string }>(TfProto.BundleHeaderProto, value, `${file} header`);
        if ((h.numShards ?? 0) !== 1) throw new Error(`${file}: ${h.numShards} data shards; only single-shard bundles are supported`);
        if (h.endianness === 'BIG') throw new Error(`${file}: big-endian bundles are not supported`);
        continue;
      }
      const e = decode<EntryObj>(TfProto.BundleEntryProto, value, `${file} entry "${name}"`);
      entries.push({ name, dtype: dtypeFromTf(e.dtype ?? 'DT_INVALID', `${file} entry "${name}"`), shape: shapeFromProto(e.shape) ?? [], offset: e.offset ?? 0, size: e.size ?? 0, crc32c: e.crc32c ?? 0 });
    }
  }
  return entries;
}

/** Reads one tensor's bytes and checks its size and crc32c against the index. */
export function readBundleTensor(prefix: string, e: BundleEntry, fd?: number): HostTensor {
  const file = dataFile(prefix);
  const own = fd === undefined;
  const handle = fd ?? fs.openSync(file, 'r');
  try {
    const expected = numel(e.shape) * BYTES_PER[e.dtype];
    if (expected !== e.size) throw new Error(`${file}: "${e.name}" has ${e.size} bytes, shape [${e.shape}] ${e.dtype} needs ${expected}`);
    const buf = Buffer.alloc(e.size);
    const got = fs.readSync(handle, buf, 0, e.size, e.offset);
    if (got !== e.size) throw new Error(`${file}: "${e.name}" is truncated (${got} of ${e.size} bytes at offset ${e.offset})`);
    if (maskCrc(crc32c(buf)) !== e.crc32c) throw new Error(`${file}: "${e.name}" fails its crc32c check (corrupted data)`);
    return { dtype: e.dtype, shape: e.shape, data: typedFromBytes(e.dtype, buf, `${file} "${e.name}"`) };
  } finally {
    if (own) fs.closeSync(handle);
  }
}

export function readTensorBundle(prefix: string): Map<string, HostTensor> {
  const entries = readBundleIndex(prefix);
  const file = dataFile(prefix);
  if (!fs.existsSync(file)) throw new Error(`${file}: missing`);
  const fd = fs.openSync(file, 'r');
  try {
    return new Map(entries.map((e) => [e.name, readBundleTensor(prefix, e, fd)]));
  } finally {
    fs.closeSync(fd);
  }
}
