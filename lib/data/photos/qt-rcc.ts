/**
 * Reader of Qt's binary resource archives (`rcc -binary`, `.rcc`): the file tree with every file's bytes.
 * Layout: magic `qres`, big-endian version, tree/data/names offsets (version >= 3: a flags word); the tree is
 * a table of nodes (root first), names are length + hash + UTF-16BE, data is length + bytes (zlib-compressed
 * entries carry qCompress's 4-byte uncompressed length first).
 */
import * as zlib from 'zlib';

export interface RccFile {
  /** Path inside the archive, `/`-separated, without a leading slash. */
  path: string;
  data: Buffer;
}

const FLAG_COMPRESSED = 0x01;
const FLAG_DIRECTORY = 0x02;
const FLAG_COMPRESSED_ZSTD = 0x04;

/** Every file of the archive `buf` (read from `file`, which errors name), depth first in the archive's order. */
export function readRcc(buf: Buffer, file: string): RccFile[] {
  const fail = (problem: string): never => {
    throw new Error(`${file}: not a readable Qt resource archive (${problem})`);
  };
  const u16 = (at: number, what: string) => (at + 2 <= buf.length ? buf.readUInt16BE(at) : fail(`${what} at byte ${at} is past the end (${buf.length} bytes)`));
  const u32 = (at: number, what: string) => (at + 4 <= buf.length ? buf.readUInt32BE(at) : fail(`${what} at byte ${at} is past the end (${buf.length} bytes)`));

  if (buf.length < 4 || buf.toString('latin1', 0, 4) !== 'qres') fail('bad magic, expected "qres"');
  const version = u32(4, 'version');
  if (version < 1 || version > 3) fail(`unsupported format version ${version}`);
  const treeAt = u32(8, 'tree offset');
  const dataAt = u32(12, 'data offset');
  const namesAt = u32(16, 'names offset');
  const nodeSize = version >= 2 ? 22 : 14;
  for (const [what, at] of [['tree', treeAt], ['data', dataAt], ['names', namesAt]] as const) if (at > buf.length) fail(`${what} offset ${at} out of range (${buf.length} bytes)`);

  const name = (offset: number): string => {
    const at = namesAt + offset;
    const chars = u16(at, 'name length');
    const start = at + 6; // after the length and the uint32 hash
    if (start + 2 * chars > buf.length) fail(`name at byte ${at} (${chars} chars) is past the end`);
    return Buffer.from(buf.subarray(start, start + 2 * chars)).swap16().toString('utf16le');
  };
  const payload = (offset: number, flags: number, where: string): Buffer => {
    const at = dataAt + offset;
    const size = u32(at, `size of ${where}`);
    if (at + 4 + size > buf.length) fail(`data of ${where} (${size} bytes at byte ${at + 4}) is past the end`);
    const raw = buf.subarray(at + 4, at + 4 + size);
    if (flags & FLAG_COMPRESSED_ZSTD) fail(`${where} is zstd-compressed, which this reader does not support (Node's zlib has no zstd; build it with rcc --compress-algo zlib)`);
    if (!(flags & FLAG_COMPRESSED)) return Buffer.from(raw);
    if (raw.length < 4) fail(`compressed ${where} has no length header`);
    const expected = raw.readUInt32BE(0);
    let out: Buffer;
    try {
      out = zlib.inflateSync(raw.subarray(4));
    } catch (e) {
      return fail(`compressed ${where}: ${(e as Error).message}`);
    }
    if (out.length !== expected) fail(`compressed ${where} inflates to ${out.length} bytes, its header says ${expected}`);
    return out;
  };

  const files: RccFile[] = [];
  const visit = (index: number, dir: string, depth: number): void => {
    if (depth > 64) fail('directories nested deeper than 64 (a loop?)');
    const at = treeAt + index * nodeSize;
    if (at + nodeSize > buf.length) fail(`tree node ${index} at byte ${at} is past the end`);
    const flags = buf.readUInt16BE(at + 4);
    // the root (node 0) has no name of its own
    const nodePath = index === 0 ? '' : dir === '' ? name(buf.readUInt32BE(at)) : `${dir}/${name(buf.readUInt32BE(at))}`;
    if (flags & FLAG_DIRECTORY) {
      const children = buf.readUInt32BE(at + 6);
      const first = buf.readUInt32BE(at + 10);
      for (let c = 0; c < children; c++) visit(first + c, nodePath, depth + 1);
    } else {
      files.push({ path: nodePath, data: payload(buf.readUInt32BE(at + 10), flags, nodePath) });
    }
  };
  visit(0, '', 0);
  return files;
}
