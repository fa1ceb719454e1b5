import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { register } from '../../lib/data/commands';
import { encodeRecord } from '../../lib/data/schema';
import { frameRecord, TfRecordWriter } from '../../lib/data/tfrecord';
import { jpeg, tmpDir } from './helpers';

test('guie build-records folder + inspect-records through commander', async () => {
  const root = tmpDir('cmd-src');
  for (const [cls, n] of [['a', 3], ['b', 2]] as const) {
    fs.mkdirSync(path.join(root, cls));
    for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, cls, `${i}.jpg`), await jpeg(12, 12, i));
  }
  fs.writeFileSync(path.join(root, 'b', 'README'), 'text');
  const out = path.join(tmpDir('cmd-out'), 'rec');
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((m: string) => void logs.push(m));
  try {
    const program = new Command().exitOverride();
    register(program);
    await program.parseAsync(['build-records', 'folder', root, '--out', out, '--label-offset', '5', '--shard-size', '3', '--source', 'toy'], { from: 'user' });
    expect(logs[0]).toBe(`toy: 5 images, 2 classes (labels 5-6), 2 shards -> ${out}; skipped 1 unreadable files (all in manifest.json; first: b/README: not a readable image (Input file contains unsupported image format))`);
    fs.appendFileSync(path.join(out, 'toy-00001-of-00002.tfrec'), frameRecord(Buffer.from('junk')));
    await program.parseAsync(['inspect-records', out], { from: 'user' });
    const report = logs[1].split('\n');
    expect(report[0]).toMatch(/toy-00000-of-00002\.tfrec: 3 records, [\d.]+ MB, labels 5-6 \(\d distinct\)$/);
    expect(report[1]).toBe('  features: image/encoded:bytes image/class/label:int64 image/id:bytes image/source:bytes');
    expect(logs[1]).toMatch(/toy-00001-of-00002\.tfrec: 3 records, .* corrupt=0 unreadable=1/);
    expect(logs[1]).toMatch(/! .*toy-00001-of-00002\.tfrec record 2: not a tf\.train\.Example \(/);
    expect(report[report.length - 1]).toBe('total: 6 records in 2 files, 2 classes; 1 bad records (exit status 1)');
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
    // --decode: a record whose JPEG is truncated (header intact) is named; without --decode it passes the checks
    const cut = path.join(tmpDir('cmd-cut'), 'cut.tfrec');
    const w = new TfRecordWriter(cut);
    const good = await jpeg(64, 48, 3);
    w.write(encodeRecord({ image: good, label: 1, id: 'ok' }));
    w.write(encodeRecord({ image: good.subarray(0, Math.floor(good.length / 2)), label: 1, id: 'half' }));
    w.close();
    await program.parseAsync(['inspect-records', cut], { from: 'user' });
    expect(process.exitCode).toBe(0);
    await program.parseAsync(['inspect-records', '--decode', cut], { from: 'user' });
    expect(logs[logs.length - 1]).toMatch(/cut\.tfrec: 2 records, .* undecodable=1\n[\s\S]*! .*cut\.tfrec record 1: cannot decode image: /);
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
    await expect(program.parseAsync(['build-records', 'gldv2', path.join(root, 'x.csv'), '--out', out], { from: 'user' })).rejects.toThrow('build-records gldv2: --images <dir> is required with a CSV');
  } finally {
    spy.mockRestore();
  }
});
