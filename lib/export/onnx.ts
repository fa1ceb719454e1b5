/**
 * Graph of TF ops -> ONNX (opset 17, dynamic batch and image size), one TF op at a time.
 * NHWC ops (Conv2D, pools) are wrapped in Transposes to ONNX's NCHW; ONNX
 * Runtime's optimiser cancels the back-to-back pairs. Weights become initializers; past
 * `externalDataBytes` they go to a side file (ONNX external data), as protobuf stops at 2 GB.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import type { DType, Graph, GraphAbout } from './graph';
import { constValue, nodeOf, prune } from './graph';
import { bytesOf } from './graphdef';
import { Ctx, ONNX_TYPE, translate } from './onnx-ops';

export const ONNX_OPSET = 17;
function valueInfo(name: string, dtype: DType, shape: number[] | null, dimNames: string[]): onnx.IValueInfoProto {
  const dims = (shape ?? []).map((d, k) => (d >= 0 ? { dimValue: d } : { dimParam: dimNames[k] ?? `${name}_dim${k}` }));
  return { name, type: { tensorType: { elemType: ONNX_TYPE[dtype], shape: { dim: dims } } } };
}

export interface OnnxExportOptions {
  /** Initializers beyond this many bytes in total go to `<file>.data` (default 1.5 GB). */
  externalDataBytes?: number;
}

/** Graph -> ONNX ModelProto (not yet encoded). */
export function graphToOnnx(graph: Graph): onnx.IModelProto {
  const g = prune(graph);
  const c = new Ctx();
  const inputs: onnx.IValueInfoProto[] = [];
  for (const n of g.nodes) {
    if (n.op === 'Const') {
      const t = constValue(n);
      c.consts.set(n.name, t);
      c.rank.set(n.name, t.shape.length);
      c.inits.push({ name: n.name, dims: t.shape, dataType: ONNX_TYPE[t.dtype], rawData: bytesOf(t.data) });
      continue;
    }
    if (n.op === 'Placeholder') {
      const [key, spec] = Object.entries(g.inputs).find(([, s]) => nodeOf(s.name) === n.name) ?? [];
      if (!key || !spec) throw new Error(`ONNX export: Placeholder "${n.name}" is not a signature input`);
      inputs.push(valueInfo(n.name, spec.dtype, spec.shape, ['batch', 'height', 'width', 'channels']));
      c.rank.set(n.name, spec.shape?.length ?? 0);
      continue;
    }
    // an Identity of a Const (a variable read back from a SavedModel) serves where a Const is needed
    const aliased = n.op === 'Identity' ? c.consts.get(nodeOf(n.inputs[0])) : undefined;
    if (aliased) c.consts.set(n.name, aliased);
    c.rank.set(c.value(n.name), translate(c, n));
  }
  const outputs = Object.entries(g.outputs).map(([key, spec]) => {
    if (c.value(spec.name) !== key) c.emit('Identity', [c.value(spec.name)], [key], [], `output/${key}`);
    return valueInfo(key, spec.dtype, spec.shape, ['batch']);
  });
  // Placeholders are named by node; expose them under the signature key
  for (const [key, spec] of Object.entries(g.inputs)) {
    const info = inputs.find((i) => i.name === nodeOf(spec.name));
    if (info && key !== info.name) {
      for (const node of c.nodes) node.input = node.input!.map((i) => (i === info.name ? key : i));
      info.name = key;
    }
  }
  // Only initializers some node reads (Consts consumed as attributes are folded away)
  const used = new Set(c.nodes.flatMap((nd) => nd.input ?? []));
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'guie-ts',
    metadataProps: g.about ? [{ key: ABOUT_KEYS.backbone, value: g.about.backbone }, { key: ABOUT_KEYS.preprocess, value: JSON.stringify(g.about.preprocess) }] : [],
    graph: { name: 'guie_embedding', node: c.nodes, initializer: c.inits.filter((t) => used.has(t.name!)), input: inputs, output: outputs },
  };
}

const ABOUT_KEYS = { backbone: 'guie.backbone', preprocess: 'guie.preprocess' } as const;

/** The backbone and preprocessing an exported ONNX file records in its metadata_props, or null for files without them. */
export function readOnnxAbout(file: string): GraphAbout | null {
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  const props = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const backbone = props.get(ABOUT_KEYS.backbone);
  const preprocess = props.get(ABOUT_KEYS.preprocess);
  if (!backbone || !preprocess) return null;
  return { backbone, preprocess: JSON.parse(preprocess) as GraphAbout['preprocess'] };
}

/** Writes FILE (and FILE.data when the weights are too large for one protobuf). Returns bytes written. */
export function writeOnnx(file: string, graph: Graph, opts: OnnxExportOptions = {}): { bytes: number; externalBytes: number } {
  const model = graphToOnnx(graph);
  const limit = opts.externalDataBytes ?? 1.5e9;
  const inits = model.graph!.initializer!;
  const total = inits.reduce((s, t) => s + (t.rawData?.length ?? 0), 0);
  let externalBytes = 0;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (total > limit) {
    const dataName = `${path.basename(file)}.data`;
    const fd = fs.openSync(`${file}.data`, 'w');
    try {
      for (const t of inits) {
        const raw = t.rawData!;
        if (raw.length < 1024) continue;
        fs.writeSync(fd, raw);
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = [{ key: 'location', value: dataName }, { key: 'offset', value: String(externalBytes) }, { key: 'length', value: String(raw.length) }];
        t.rawData = undefined;
        externalBytes += raw.length;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
  fs.writeFileSync(file, bytes);
  return { bytes: bytes.length, externalBytes };
}
