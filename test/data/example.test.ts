import { bytesFeature, decodeExample, encodeExample, floatFeature, int64Feature } from '../../lib/data/example';
import { DEFAULT_SCHEMA, decodeRecord, encodeRecord, parseSchema, SCHEMAS } from '../../lib/data/schema';

describe('tf.train.Example', () => {
  test('round trip of every kind, multi-valued, empty, and int64 beyond 2^53', () => {
    const big = 2n ** 63n - 1n;
    const ex = {
      ints: int64Feature(big, -(2n ** 63n), 2n ** 53n + 1n, 0, -1),
      none: int64Feature(),
      floats: floatFeature(0.5, -3.25, 1e10),
      text: bytesFeature('héllo', new Uint8Array([0, 255])),
      noBytes: bytesFeature(),
    };
    const back = decodeExample(encodeExample(ex));
    expect(back.ints).toEqual({ kind: 'int64', value: [big, -(2n ** 63n), 2n ** 53n + 1n, 0n, -1n] });
    expect(back.none).toEqual({ kind: 'int64', value: [] });
    expect(back.floats).toEqual({ kind: 'float', value: [0.5, -3.25, 1e10] });
    expect(back.text.kind).toBe('bytes');
    expect(Buffer.from(back.text.value[0] as Uint8Array).toString()).toBe('héllo');
    expect(Array.from(back.text.value[1] as Uint8Array)).toEqual([0, 255]);
    expect(back.noBytes).toEqual({ kind: 'bytes', value: [] });
  });

  test('unsafe JS numbers are refused for int64 (pass a bigint)', () => {
    expect(() => int64Feature(2 ** 60)).toThrow(/not a safe integer/);
  });

  test('known wire bytes: Example{features{feature{"a": int64_list{1}}}}, packed like TensorFlow writes it', () => {
    // Hand-assembled from the field numbers: Example.features=1, Features.feature map=1 (key=1, value=2), Feature.int64_list=3, Int64List.value=1 packed.
    const packed = Buffer.from([0x0a, 0x0c, 0x0a, 0x0a, 0x0a, 0x01, 0x61, 0x12, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x01]);
    expect(Buffer.from(encodeExample({ a: int64Feature(1) }))).toEqual(packed);
    // Parsers must also accept the unpacked form (proto2 writers).
    const unpacked = Buffer.from([0x0a, 0x0b, 0x0a, 0x09, 0x0a, 0x01, 0x61, 0x12, 0x04, 0x1a, 0x02, 0x08, 0x01]);
    expect(decodeExample(packed)).toEqual({ a: { kind: 'int64', value: [1n] } });
    expect(decodeExample(unpacked)).toEqual({ a: { kind: 'int64', value: [1n] } });
  });
});

describe('record schema', () => {
  test('encode/decode an image record with id and source', () => {
    const rec = { image: new Uint8Array([1, 2, 3]), label: 10691, id: 'abc', source: 'gldv2' };
    const back = decodeRecord(encodeRecord(rec));
    expect(back).toEqual(rec);
  });

  test('community feature names and JSON schemas', () => {
    const s = SCHEMAS.community;
    const back = decodeRecord(encodeRecord({ image: new Uint8Array([9]), label: 3, id: 'x' }, s), s);
    expect(back).toEqual({ image: new Uint8Array([9]), label: 3, id: 'x', source: undefined });
    expect(parseSchema('{"image":"img","label":"cls"}')).toEqual({ image: 'img', label: 'cls', id: undefined, source: undefined });
    expect(() => parseSchema('nope')).toThrow(/unknown record schema "nope"/);
  });

  test('missing or mistyped features name the record and feature', () => {
    const bytes = encodeExample({ 'image/encoded': bytesFeature('x'), 'image/class/label': floatFeature(1) });
    expect(() => decodeRecord(bytes, DEFAULT_SCHEMA, 's.tfrec record 4')).toThrow('s.tfrec record 4: feature "image/class/label" is float, expected int64');
    const noImage = encodeExample({ 'image/class/label': int64Feature(1) });
    expect(() => decodeRecord(noImage, DEFAULT_SCHEMA, 'r')).toThrow('r: missing feature "image/encoded"');
    expect(() => decodeRecord(Buffer.from([0xff, 0xff]), DEFAULT_SCHEMA, 'r')).toThrow(/^r: not a tf.train.Example/);
  });
});
