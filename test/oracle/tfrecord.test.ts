/**
 * Oracle: TensorFlow 2.x from PyPI (tf.io.TFRecordWriter, tf.data.TFRecordDataset,
 * tf.io.parse_single_example) via test/oracle/tfrecord_tf.py. Comparison is exact: bytes equal,
 * int64 equal as decimal strings (values above 2^53 included), floats equal after float32 rounding.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bytesFeature, decodeExample, encodeExample, exampleToJson, floatFeature, int64Feature, type Example } from '../../lib/data/example';
import { readTfRecords, writeTfRecords } from '../../lib/data/tfrecord';
import { runPythonJson } from './python';

const script = path.join(__dirname, 'tfrecord_tf.py');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-oracle-tfrecord-'));
type JsonExample = ReturnType<typeof exampleToJson>;

async function readAll(file: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const r of readTfRecords(file)) out.push(r);
  return out;
}
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const f32 = (x: number) => Math.fround(x);

describe('TFRecord + tf.train.Example vs TensorFlow', () => {
  test('records written by tf.io.TFRecordWriter read back identically by ours', async () => {
    const file = path.join(dir, 'tf-raw.tfrec');
    const want = runPythonJson<{ raw: string[] }>(script, ['write-raw', file]);
    expect((await readAll(file)).map(b64)).toEqual(want.raw);
    expect(want.raw.length).toBe(4);
  });

  test('records written by ours read back identically by tf.data.TFRecordDataset', () => {
    const file = path.join(dir, 'ours-raw.tfrec');
    const recs = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 3), Buffer.from([255, 0, 128])];
    writeTfRecords(file, recs);
    expect(runPythonJson<{ raw: string[] }>(script, ['read-raw', file]).raw).toEqual(recs.map(b64));
  });

  test('Examples written by TensorFlow decode to the same values (int64 > 2^53, empty, multi-valued)', async () => {
    const file = path.join(dir, 'tf-ex.tfrec');
    const want = runPythonJson<{ examples: JsonExample[] }>(script, ['write-examples', file]);
    const got = (await readAll(file)).map((r) => exampleToJson(decodeExample(r)));
    expect(got.length).toBe(2);
    for (let i = 0; i < got.length; i++) {
      const w = want.examples[i];
      // TensorFlow stores floats as float32.
      w.floats.value = w.floats.value.map((v) => f32(v as number));
      expect(got[i]).toEqual(w);
    }
    expect(got[0].ints.value).toEqual(['9223372036854775807', '-9223372036854775808', '9007199254740993', '0', '-1']);
  });

  test('Examples written by ours parse in tf.io.parse_single_example', () => {
    const file = path.join(dir, 'ours-ex.tfrec');
    const exs: Example[] = [
      { ints: int64Feature(2n ** 63n - 1n, 2n ** 53n + 1n, -7), floats: floatFeature(1.5, -0.1), text: bytesFeature('hé', new Uint8Array([0, 1])), none: int64Feature() },
      { ints: int64Feature(), floats: floatFeature(), text: bytesFeature(), none: int64Feature(-(2n ** 63n)) },
    ];
    writeTfRecords(file, exs.map(encodeExample));
    const spec = { ints: 'int64', floats: 'float', text: 'bytes', none: 'int64' };
    const got = runPythonJson<{ examples: JsonExample[] }>(script, ['read-examples', file, JSON.stringify(spec)]).examples;
    const want = exs.map((e) => {
      const j = exampleToJson(e);
      j.floats.value = j.floats.value.map((v) => f32(v as number));
      return j;
    });
    expect(got).toEqual(want);
    expect(got[0].ints.value).toEqual(['9223372036854775807', '9007199254740993', '-7']);
  });
});
