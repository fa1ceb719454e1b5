/**
 * readRcc against Qt's own resource compiler (`rcc --binary`, from Debian's qtbase5-dev-tools or
 * qt6-base-dev-tools, which .ci/run installs): every format version, zlib and uncompressed entries, nested
 * folders and a non-ASCII name come back as exactly the files that went in; damaged archives are errors
 * that name the file.
 */
import { randomBytes } from 'crypto';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readRcc } from '../../lib/data/photos/qt-rcc';

const RCC = ['/usr/lib/qt5/bin/rcc', '/usr/lib/qt6/libexec/rcc'].find((f) => fs.existsSync(f));

let tmp: string;
let inputs: Map<string, Buffer>;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-rcc-'));
  inputs = new Map([
    ['top.txt', Buffer.from('hello rcc\n'.repeat(400))], // compressible: rcc stores it compressed
    ['img/noise.bin', randomBytes(5000)], // incompressible: rcc stores it as it is
    ['img/deep/er/Fotografía-写真.txt', Buffer.from('ünïcødé '.repeat(100))],
    ['img/deep/small.txt', Buffer.from('x')],
  ]);
  for (const [p, data] of inputs) {
    fs.mkdirSync(path.dirname(path.join(tmp, 'in', p)), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'in', p), data);
  }
  const qrc = `<!DOCTYPE RCC><RCC version="1.0"><qresource>${[...inputs.keys()].map((p) => `<file>${p}</file>`).join('')}</qresource></RCC>`;
  fs.writeFileSync(path.join(tmp, 'in', 'test.qrc'), qrc);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs Qt's rcc on the test .qrc with these options; the archive's bytes. */
function rcc(name: string, ...args: string[]): { file: string; buf: Buffer } {
  expect(RCC).toBeDefined(); // apt-get install qtbase5-dev-tools
  const file = path.join(tmp, `${name}.rcc`);
  execFileSync(RCC!, ['--binary', ...args, '-o', file, 'test.qrc'], { cwd: path.join(tmp, 'in') });
  return { file, buf: fs.readFileSync(file) };
}

const asMap = (files: ReturnType<typeof readRcc>) => new Map(files.map((f) => [f.path, f.data]));

test.each([1, 2, 3])('format version %i, zlib and uncompressed: the same paths and bytes as went in', (version) => {
  for (const [name, args] of [[`v${version}-zlib`, ['--compress-algo', 'zlib']], [`v${version}-none`, ['--no-compress']]] as const) {
    const { file, buf } = rcc(name, '--format-version', String(version), ...args);
    expect(buf.readUInt32BE(4)).toBe(version);
    const got = asMap(readRcc(buf, file));
    expect([...got.keys()].sort()).toEqual([...inputs.keys()].sort());
    for (const [p, data] of inputs) expect(got.get(p)!.equals(data)).toBe(true);
  }
});

test('rcc really compressed the compressible file with zlib (flag 1), so the inflate path ran', () => {
  const { buf } = rcc('zlib-size', '--format-version', '3', '--compress-algo', 'zlib');
  const { buf: plain } = rcc('none-size', '--format-version', '3', '--no-compress');
  expect(buf.length).toBeLessThan(plain.length - 3000);
});

test('zstd entries are an error naming the file and the entry (Node has no zstd)', () => {
  const { file, buf } = rcc('zstd', '--format-version', '3', '--compress-algo', 'zstd');
  expect(() => readRcc(buf, file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a readable Qt resource archive \\(.+\\.txt is zstd-compressed`));
});

test('truncated, bad-magic and out-of-range archives are errors naming the file and the problem', () => {
  const { file, buf } = rcc('good', '--format-version', '3', '--compress-algo', 'zlib');
  expect(() => readRcc(buf.subarray(0, 3), 'short.rcc')).toThrow('short.rcc: not a readable Qt resource archive (bad magic, expected "qres")');
  expect(() => readRcc(Buffer.concat([Buffer.from('QRES'), buf.subarray(4)]), 'magic.rcc')).toThrow(/^magic\.rcc: .*bad magic/);
  expect(() => readRcc(buf.subarray(0, buf.length - 10), 'cut.rcc')).toThrow(/^cut\.rcc: not a readable Qt resource archive \(.*past the end/);
  expect(() => readRcc(buf.subarray(0, 16), 'header.rcc')).toThrow(/^header\.rcc: .*names offset at byte 16 is past the end/);
  const far = Buffer.from(buf);
  far.writeUInt32BE(buf.length + 100, 12); // data offset beyond the file
  expect(() => readRcc(far, file)).toThrow(`${file}: not a readable Qt resource archive (data offset ${buf.length + 100} out of range (${buf.length} bytes))`);
  const version = Buffer.from(buf);
  version.writeUInt32BE(9, 4);
  expect(() => readRcc(version, 'v9.rcc')).toThrow('v9.rcc: not a readable Qt resource archive (unsupported format version 9)');
});
