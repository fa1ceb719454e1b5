/**
 * TensorBoard logs written from TypeScript: `events.out.tfevents.*` files are TFRecord framing
 * (data/tfrecord.ts) around Event protos (tensorflow/core/util/event.proto, framework/summary.proto,
 * TensorFlow's own field numbers), scalars as Summary.Value.simple_value; the embedding projector
 * reads `projector_config.pbtxt` beside them with a tensors TSV and a metadata TSV per embedding.
 * `tensorboard --logdir <train folder>` shows both.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { frameRecord } from '../data/tfrecord';
import { appendFileNamed, writeFileAtomic } from '../util/atomic';

const EVENT_PROTO = `
syntax = "proto3";
package tensorflow;
message Summary {
  message Value { string tag = 1; float simple_value = 2; }
  repeated Value value = 1;
}
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what { string file_version = 3; Summary summary = 5; }
}
`;

const Event = protobuf.parse(EVENT_PROTO, { keepCase: true }).root.lookupType('tensorflow.Event');

/** Appends events to one new file per writer (a resumed run starts its own file; TensorBoard reads them all). */
export class EventWriter {
  readonly file: string;

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    // TensorBoard's name pattern; the pid keeps two writers in one second apart
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}.${process.pid}.guie`);
    this.append({ wall_time: Date.now() / 1000, file_version: 'brain.Event:2' });
  }

  /** One scalar per tag at `step`; non-finite values are left out (TensorBoard would draw them as gaps anyway). */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const value = Object.entries(values).filter(([, v]) => Number.isFinite(v)).map(([tag, v]) => ({ tag, simple_value: v }));
    if (value.length > 0) this.append({ wall_time: wallTime, step, summary: { value } });
  }

  private append(event: Record<string, unknown>): void {
    appendFileNamed(this.file, frameRecord(Event.encode(Event.fromObject(event)).finish()));
  }
}

/** Tab-separated text with tabs and newlines in cells replaced (the projector's TSV has no quoting). */
const tsvCell = (s: string) => s.replace(/[\t\r\n]/g, ' ');

/**
 * The projector's files for `rows` embeddings of `dim` floats under `<dir>/<name>/` (tensors.tsv, and
 * metadata.tsv with a header row when there are several columns), listed in `<dir>/projector_config.pbtxt`.
 */
export function writeProjector(dir: string, name: string, vectors: Float32Array, dim: number, metadata: Record<string, readonly string[]>): void {
  const rows = vectors.length / dim;
  const columns = Object.keys(metadata);
  for (const c of columns) if (metadata[c].length !== rows) throw new Error(`projector "${name}": metadata column "${c}" has ${metadata[c].length} rows, the tensor ${rows}`);
  const sub = path.join(dir, name);
  const tensors: string[] = [];
  for (let i = 0; i < rows; i++) tensors.push(Array.from(vectors.subarray(i * dim, (i + 1) * dim), (v) => String(v)).join('\t'));
  writeFileAtomic(path.join(sub, 'tensors.tsv'), tensors.join('\n') + '\n');
  // one column: no header (the projector's convention); several: a header row
  const meta = columns.length === 1 ? metadata[columns[0]].map(tsvCell) : [columns.join('\t'), ...Array.from({ length: rows }, (_, i) => columns.map((c) => tsvCell(metadata[c][i])).join('\t'))];
  writeFileAtomic(path.join(sub, 'metadata.tsv'), meta.join('\n') + '\n');
  writeFileAtomic(
    path.join(dir, 'projector_config.pbtxt'),
    `embeddings {\n  tensor_name: "${name}"\n  tensor_path: "${name}/tensors.tsv"\n  metadata_path: "${name}/metadata.tsv"\n  tensor_shape: ${rows}\n  tensor_shape: ${dim}\n}\n`,
  );
}
