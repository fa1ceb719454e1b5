/**
 * TFRecord framing, as TensorFlow's record_writer.cc writes it:
 *   uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 * Streaming reader (constant memory, any file size) and an atomic writer.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ioError } from '../util/atomic';
import { crc32c } from '@node-rs/crc32';

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;
const MASK_DELTA = 0xa282ead8;

/** TensorFlow's crc32c::Mask: rotate right by 15 bits, add a constant (all uint32). */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function maskedCrc32c(bytes: Uint8Array): number {
  return maskCrc(crc32c(bytes));
}

/** One record's bytes on disk (header + data + footer). */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length + FOOTER_BYTES);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, HEADER_BYTES);
  out.writeUInt32LE(maskedCrc32c(data), HEADER_BYTES + data.length);
  return out;
}

export type TfRecordFault = 'length-crc' | 'data-crc' | 'truncated' | 'too-large';

/** A bad record: names the file, the 0-based record index and the byte offset of its header. */
export class TfRecordError extends Error {
  constructor(
    readonly file: string,
    readonly index: number,
    readonly offset: number,
    readonly fault: TfRecordFault,
    detail: string,
  ) {
    super(`${file}: record ${index} at byte ${offset}: ${detail}`);
    this.name = 'TfRecordError';
  }
}

export interface ReadStats {
  records: number;
  /** Records dropped in skip mode (a bad length CRC or truncation drops the rest of the file: counted once). */
  corrupt: number;
  errors: TfRecordError[];
}

export interface ReadOptions {
  /** Skip and count corrupt records instead of throwing. */
  skipCorrupt?: boolean;
  /** Filled in while reading (also in throw mode, up to the failure). */
  stats?: ReadStats;
  /** Check the data CRC (the length CRC is always checked: a wrong length would desynchronise the stream). */
  verifyData?: boolean;
  /** Refuse lengths above this (a corrupt length would otherwise ask for a huge buffer). */
  maxRecordBytes?: number;
  chunkBytes?: number;
}

export function newReadStats(): ReadStats {
  return { records: 0, corrupt: 0, errors: [] };
}

/** Buffered sequential reads from a file handle; copies only when a request straddles chunks. */
class ChunkReader {
  private buf: Buffer;
  private start = 0;
  private end = 0;
  private filePos = 0;
  private eof = false;
  constructor(
    private readonly fh: fs.promises.FileHandle,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.filePos - (this.end - this.start);
  }

  /** Up to n bytes (fewer only at end of file). The returned view is valid until the next call. */
  async read(n: number): Promise<Buffer> {
    while (this.end - this.start < n && !this.eof) {
      if (this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      if (n > this.buf.length) {
        const grown = Buffer.allocUnsafe(n);
        this.buf.copy(grown, 0, 0, this.end);
        this.buf = grown;
      }
      const { bytesRead } = await this.fh.read(this.buf, this.end, this.buf.length - this.end, this.filePos);
      if (bytesRead === 0) this.eof = true;
      this.end += bytesRead;
      this.filePos += bytesRead;
    }
    const take = Math.min(n, this.end - this.start);
    const out = this.buf.subarray(this.start, this.start + take);
    this.start += take;
    return out;
  }
}

/**
 * Async iterator over the records of one file. Each yielded array is a fresh copy.
 * Throws TfRecordError on the first bad record unless `skipCorrupt` is set.
 */
export async function* readTfRecords(file: string, opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
  const stats = opts.stats ?? newReadStats();
  const maxBytes = opts.maxRecordBytes ?? 1 << 30;
  const verifyData = opts.verifyData ?? true;
  const fh = await fs.promises.open(file, 'r');
  const reader = new ChunkReader(fh, opts.chunkBytes ?? 1 << 20);
  let index = 0;
  const fail = (offset: number, fault: TfRecordFault, detail: string): TfRecordError => {
    const err = new TfRecordError(file, index, offset, fault, detail);
    stats.corrupt += 1;
    stats.errors.push(err);
    return err;
  };
  try {
    for (;;) {
      const offset = reader.position;
      const header = await reader.read(HEADER_BYTES);
      if (header.length === 0) return;
      if (header.length < HEADER_BYTES) {
        const err = fail(offset, 'truncated', `truncated header (${header.length} of ${HEADER_BYTES} bytes)`);
        if (opts.skipCorrupt) return;
        throw err;
      }
      const lengthCrc = header.readUInt32LE(8);
      if (maskedCrc32c(header.subarray(0, 8)) !== lengthCrc) {
        // The length cannot be trusted, so the rest of the file cannot be framed.
        const err = fail(offset, 'length-crc', 'length CRC mismatch (corrupt length; rest of file unreadable)');
        if (opts.skipCorrupt) return;
        throw err;
      }
      const length = header.readBigUInt64LE(0);
      if (length > BigInt(maxBytes)) {
        const err = fail(offset, 'too-large', `record length ${length} exceeds limit ${maxBytes}`);
        if (opts.skipCorrupt) return;
        throw err;
      }
      const n = Number(length);
      const body = await reader.read(n + FOOTER_BYTES);
      if (body.length < n + FOOTER_BYTES) {
        const err = fail(offset, 'truncated', `truncated record (${body.length} of ${n + FOOTER_BYTES} bytes after header)`);
        if (opts.skipCorrupt) return;
        throw err;
      }
      const data = body.subarray(0, n);
      if (verifyData && maskedCrc32c(data) !== body.readUInt32LE(n)) {
        const err = fail(offset, 'data-crc', `data CRC mismatch (${n} bytes)`);
        if (!opts.skipCorrupt) throw err;
        index += 1;
        continue;
      }
      stats.records += 1;
      index += 1;
      yield new Uint8Array(data);
    }
  } finally {
    await fh.close();
  }
}

/** Where each record's data lies in a file (random access for training on images): headers only are read and checked. */
export interface RecordSpan {
  offset: number;
  length: number;
}

export function indexTfRecords(file: string): RecordSpan[] {
  const fd = fs.openSync(file, 'r');
  const spans: RecordSpan[] = [];
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(HEADER_BYTES);
    for (let pos = 0; pos < size; ) {
      if (fs.readSync(fd, header, 0, HEADER_BYTES, pos) < HEADER_BYTES) throw new TfRecordError(file, spans.length, pos, 'truncated', 'truncated header');
      if (maskedCrc32c(header.subarray(0, 8)) !== header.readUInt32LE(8)) throw new TfRecordError(file, spans.length, pos, 'length-crc', 'length CRC mismatch');
      const length = Number(header.readBigUInt64LE(0));
      if (pos + HEADER_BYTES + length + FOOTER_BYTES > size) throw new TfRecordError(file, spans.length, pos, 'truncated', `truncated record (${length} bytes announced)`);
      spans.push({ offset: pos + HEADER_BYTES, length });
      pos += HEADER_BYTES + length + FOOTER_BYTES;
    }
  } finally {
    fs.closeSync(fd);
  }
  return spans;
}

/** One record's data by its span (from indexTfRecords), CRC-checked. */
export function readTfRecordAt(fd: number, file: string, index: number, span: RecordSpan): Uint8Array {
  const buf = Buffer.alloc(span.length + FOOTER_BYTES);
  if (fs.readSync(fd, buf, 0, buf.length, span.offset) < buf.length) throw new TfRecordError(file, index, span.offset - HEADER_BYTES, 'truncated', 'record shorter than indexed');
  const data = buf.subarray(0, span.length);
  if (maskedCrc32c(data) !== buf.readUInt32LE(span.length)) throw new TfRecordError(file, index, span.offset - HEADER_BYTES, 'data-crc', `data CRC mismatch (${span.length} bytes)`);
  return new Uint8Array(data);
}

/** Number of good records (and corrupt ones, in skip mode) without keeping any of them. */
/** Records of one file with their index in it (corrupt ones skipped into `stats` but counted, as the pipeline numbers them). */
export async function* numberedRecords(file: string, stats: ReadStats = newReadStats()): AsyncGenerator<{ index: number; bytes: Uint8Array }> {
  for await (const bytes of readTfRecords(file, { skipCorrupt: true, stats })) yield { index: stats.records + stats.corrupt - 1, bytes };
}

export async function countTfRecords(file: string, opts: Omit<ReadOptions, 'stats'> = {}): Promise<ReadStats> {
  const stats = newReadStats();
  for await (const _ of readTfRecords(file, { ...opts, stats })) void _;
  return stats;
}

/**
 * Writes records to `<file>.tmp-*` and renames on close(): a killed build never leaves a
 * half-written shard under the final name.
 */
export class TfRecordWriter {
  private readonly tmp: string;
  private fd: number | null;
  private count = 0;
  private bytes = 0;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    this.fd = fs.openSync(this.tmp, 'w');
  }

  write(data: Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.file}: write after close`);
    const framed = frameRecord(data);
    try {
      fs.writeSync(this.fd, framed);
    } catch (e) {
      throw ioError(this.file, e);
    }
    this.count += 1;
    this.bytes += framed.length;
  }

  get records(): number {
    return this.count;
  }

  get size(): number {
    return this.bytes;
  }

  /** fsync, close, rename into place. */
  close(): void {
    if (this.fd === null) return;
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      throw ioError(this.file, e);
    }
    fs.closeSync(this.fd);
    this.fd = null;
    fs.renameSync(this.tmp, this.file);
  }

  /** Drop everything written (the final file is left untouched). */
  abort(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Writes all records to `file` atomically. */
export function writeTfRecords(file: string, records: Iterable<Uint8Array>): number {
  const w = new TfRecordWriter(file);
  try {
    for (const r of records) w.write(r);
  } catch (e) {
    w.abort();
    throw e;
  }
  w.close();
  return w.records;
}
