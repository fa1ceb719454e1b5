"""TensorFlow oracle for lib/data/tfrecord.ts and example.ts.

  write-raw FILE            tf.io.TFRecordWriter writes fixed raw records; prints them (base64)
  write-examples FILE       tf.io.TFRecordWriter writes tf.train.Examples; prints them as JSON
  read-raw FILE             tf.data.TFRecordDataset reads FILE; prints the records (base64)
  read-examples FILE SPEC   TFRecordDataset + tf.io.parse_single_example with VarLenFeature per SPEC
                            ({"name": "int64"|"float"|"bytes"}); prints the parsed values
int64 values are printed as decimal strings (JSON numbers would lose bits above 2^53).
"""
import base64
import json
import sys

import tensorflow as tf

B64 = lambda b: base64.b64encode(b).decode("ascii")

RAW = [b"first", b"", bytes(range(256)) * 40, b"\x00\xff" * 3]


def examples():
    big = 2**63 - 1
    return [
        {"ints": ("int64", [big, -(2**63), 2**53 + 1, 0, -1]), "empty_int": ("int64", []),
         "floats": ("float", [0.5, -3.25, 1e10]), "text": ("bytes", ["h\u00e9llo".encode(), b"\x00\xff"]),
         "empty_bytes": ("bytes", [])},
        {"ints": ("int64", [9007199254740993]), "empty_int": ("int64", []), "floats": ("float", []),
         "text": ("bytes", [b"x"]), "empty_bytes": ("bytes", [])},
    ]


def to_proto(ex):
    feats = {}
    for name, (kind, vals) in ex.items():
        if kind == "int64":
            feats[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=vals))
        elif kind == "float":
            feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=vals))
        else:
            feats[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=vals))
    return tf.train.Example(features=tf.train.Features(feature=feats))


def to_json(kind, vals):
    if kind == "int64":
        return {"kind": kind, "value": [str(int(v)) for v in vals]}
    if kind == "float":
        return {"kind": kind, "value": [float(v) for v in vals]}
    return {"kind": kind, "value": [B64(bytes(v)) for v in vals]}


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "write-raw":
        with tf.io.TFRecordWriter(path) as w:
            for r in RAW:
                w.write(r)
        print(json.dumps({"raw": [B64(r) for r in RAW]}))
    elif cmd == "write-examples":
        exs = examples()
        with tf.io.TFRecordWriter(path) as w:
            for ex in exs:
                w.write(to_proto(ex).SerializeToString())
        print(json.dumps({"examples": [{n: to_json(k, v) for n, (k, v) in ex.items()} for ex in exs]}))
    elif cmd == "read-raw":
        print(json.dumps({"raw": [B64(r.numpy()) for r in tf.data.TFRecordDataset(path)]}))
    elif cmd == "read-examples":
        spec = json.loads(sys.argv[3])
        dtypes = {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}
        features = {n: tf.io.VarLenFeature(dtypes[k]) for n, k in spec.items()}
        out = []
        for r in tf.data.TFRecordDataset(path):
            parsed = tf.io.parse_single_example(r, features)
            out.append({n: to_json(spec[n], parsed[n].values.numpy().tolist()) for n in spec})
        print(json.dumps({"examples": out}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
