import * as fs from 'fs';
import * as path from 'path';
import { crc32c } from '@node-rs/crc32';
import { countTfRecords, frameRecord, maskCrc, maskedCrc32c, newReadStats, readTfRecords, TfRecordError, TfRecordWriter, writeTfRecords } from '../../lib/data/tfrecord';
import { tmpDir } from './helpers';

const collect = async (file: string, opts = {}) => {
  const out: Uint8Array[] = [];
  for await (const r of readTfRecords(file, opts)) out.push(r);
  return out;
};

const records = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(3_000_000, 7), Buffer.from([0, 1, 2, 255])];

describe('tfrecord framing', () => {
  const dir = tmpDir('tfrecord');
  const file = path.join(dir, 'a.tfrec');
  beforeAll(() => writeTfRecords(file, records));

  test('CRC32C check value and TensorFlow mask', () => {
    // RFC 3720 check value for "123456789".
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // Mask of 0 is the constant itself; rotation keeps 32 bits.
    expect(maskCrc(0)).toBe(0xa282ead8);
    expect(maskCrc(0xffffffff)).toBe((0xffffffff + 0xa282ead8) >>> 0);
    expect(maskedCrc32c(Buffer.alloc(0))).toBe(maskCrc(0));
  });

  test('frame layout: length, masked length crc, data, masked data crc', () => {
    const f = frameRecord(Buffer.from('abc'));
    expect(f.length).toBe(8 + 4 + 3 + 4);
    expect(f.readBigUInt64LE(0)).toBe(3n);
    expect(f.readUInt32LE(8)).toBe(maskedCrc32c(f.subarray(0, 8)));
    expect(f.subarray(12, 15).toString()).toBe('abc');
    expect(f.readUInt32LE(15)).toBe(maskedCrc32c(Buffer.from('abc')));
  });

  test('round trip with a small read chunk (records straddle chunks, one is larger than the chunk)', async () => {
    const got = await collect(file, { chunkBytes: 7 });
    // Buffer.equals: jest's deep equality is very slow on a 3 MB array.
    expect(got.length).toBe(records.length);
    got.forEach((g, i) => expect(Buffer.from(g).equals(records[i])).toBe(true));
    expect((await countTfRecords(file)).records).toBe(4);
  });

  test('writer is atomic: nothing under the final name until close, abort leaves nothing', () => {
    const f2 = path.join(dir, 'b.tfrec');
    const w = new TfRecordWriter(f2);
    w.write(Buffer.from('x'));
    expect(fs.existsSync(f2)).toBe(false);
    w.abort();
    expect(fs.existsSync(f2)).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('b.tfrec'))).toEqual([]);
  });

  const corrupt = (name: string, mutate: (b: Buffer) => Buffer): string => {
    const out = path.join(dir, name);
    fs.writeFileSync(out, mutate(Buffer.from(fs.readFileSync(file))));
    return out;
  };
  const secondOffset = 12 + 5 + 4;

  test('corrupt length CRC: error names file, record index and byte offset; skip mode stops and counts', async () => {
    const bad = corrupt('len.tfrec', (b) => {
      b[secondOffset] ^= 0x01; // length of record 1 changes, its CRC no longer matches
      return b;
    });
    const err = await collect(bad).catch((e) => e);
    expect(err).toBeInstanceOf(TfRecordError);
    expect(err.message).toBe(`${bad}: record 1 at byte ${secondOffset}: length CRC mismatch (corrupt length; rest of file unreadable)`);
    expect([err.index, err.offset, err.fault]).toEqual([1, secondOffset, 'length-crc']);
    const stats = newReadStats();
    const got = await collect(bad, { skipCorrupt: true, stats });
    expect(got.length).toBe(1);
    expect([stats.records, stats.corrupt]).toEqual([1, 1]);
  });

  test('corrupt data CRC: throws, or skips only that record', async () => {
    const third = secondOffset + 12 + 0 + 4;
    const bad = corrupt('data.tfrec', (b) => {
      b[third + 12 + 100] ^= 0xff; // a byte inside record 2's data
      return b;
    });
    const err = await collect(bad).catch((e) => e);
    expect(err.message).toBe(`${bad}: record 2 at byte ${third}: data CRC mismatch (3000000 bytes)`);
    const stats = newReadStats();
    const got = await collect(bad, { skipCorrupt: true, stats });
    expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual([records[0], records[1], records[3]].map((r) => r.toString('hex')));
    expect([stats.records, stats.corrupt]).toEqual([3, 1]);
    expect(stats.errors[0].index).toBe(2);
  });

  test('truncated file: inside data and inside a header', async () => {
    const size = fs.statSync(file).size;
    const cutData = corrupt('trunc.tfrec', (b) => b.subarray(0, size - 3));
    const err = await collect(cutData).catch((e) => e);
    expect(err.fault).toBe('truncated');
    expect(err.message).toBe(`${cutData}: record 3 at byte ${size - 20}: truncated record (5 of 8 bytes after header)`);
    const cutHeader = corrupt('trunc2.tfrec', (b) => b.subarray(0, secondOffset + 5));
    const err2 = await collect(cutHeader).catch((e) => e);
    expect(err2.message).toBe(`${cutHeader}: record 1 at byte ${secondOffset}: truncated header (5 of 12 bytes)`);
    const stats = newReadStats();
    expect((await collect(cutHeader, { skipCorrupt: true, stats })).length).toBe(1);
    expect(stats.corrupt).toBe(1);
  });

  test('empty file has no records', async () => {
    const empty = path.join(dir, 'empty.tfrec');
    fs.writeFileSync(empty, '');
    expect(await collect(empty)).toEqual([]);
  });
});
