/**
 * Graph -> TensorFlow SavedModel (and back), written as TF 1.x's SavedModelBuilder lays it out,
 * which TF 2.x's tf.saved_model.load reads through its v1 loader:
 *   saved_model.pb   one MetaGraphDef tagged "serve": the GraphDef, a SaverDef whose restore op
 *                    fills the variables from the checkpoint, the variables collection, and the
 *                    `serving_default` SignatureDef
 *   variables/       TensorBundle with every weight (no 2 GB protobuf limit on weights)
 * Weights become resource variables (VarHandleOp + ReadVariableOp); every op used exists in TF 2.6,
 * and only attrs TF 2.6 defines are written (newer loaders fill newer attrs' defaults).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Graph, GraphNode, HostTensor, TensorSpec } from './graph';
import { nodeOf, prune } from './graph';
import { dtypeFromTf, nodeFromProto, nodeToProto, shapeFromProto, shapeToProto, TF_DTYPE, type AttrObj, type NodeDefObj, type ShapeProto } from './graphdef';
import { readBundleIndex, readBundleTensor, dataFile, writeTensorBundle } from './tensor-bundle';
import { decode, encode, TfProto } from './tf-protos';

export const SERVE_TAG = 'serve';
export const SIGNATURE_KEY = 'serving_default';
const PREDICT_METHOD = 'tensorflow/serving/predict';
/** GraphDef version of TF 1.15-era graphs: every op here is older, so TF 2.6 accepts it. */
const GRAPH_PRODUCER = 134;
const READ = (v: string): string => `${v}/Read/ReadVariableOp`;

const strTensor = (values: string[]): AttrObj => ({
  tensor: { dtype: 'DT_STRING', tensorShape: shapeToProto([values.length]), stringVal: values.map((s) => Buffer.from(s, 'utf8')) },
});
const scalarStr = (value: string): AttrObj => ({ tensor: { dtype: 'DT_STRING', tensorShape: { dim: [] }, stringVal: [Buffer.from(value, 'utf8')] } });
const t = (dtype: string): AttrObj => ({ type: dtype });

/** Variables, their initialisers and the TF1 Saver's save/restore subgraph. */
function variableNodes(vars: { name: string; value: HostTensor }[]): { nodes: NodeDefObj[]; variableDefs: Uint8Array[] } {
  const nodes: NodeDefObj[] = [
    { name: 'save/filename/input', op: 'Const', attr: { dtype: t('DT_STRING'), value: scalarStr('model') } },
    { name: 'save/Const', op: 'PlaceholderWithDefault', input: ['save/filename/input'], attr: { dtype: t('DT_STRING'), shape: { shape: { dim: [] } } } },
  ];
  const variableDefs: Uint8Array[] = [];
  for (const v of vars) {
    const dtype = TF_DTYPE[v.value.dtype];
    nodes.push(
      { name: v.name, op: 'VarHandleOp', attr: { dtype: t(dtype), shape: { shape: shapeToProto(v.value.shape) }, shared_name: { s: Buffer.from(v.name) }, container: { s: Buffer.from('') } } },
      { name: READ(v.name), op: 'ReadVariableOp', input: [v.name], attr: { dtype: t(dtype) } },
      // A zero initialiser: VariableDef needs one; the real values always come from the checkpoint.
      { name: `${v.name}/Initializer/zeros/shape`, op: 'Const', attr: { dtype: t('DT_INT32'), value: { tensor: { dtype: 'DT_INT32', tensorShape: shapeToProto([v.value.shape.length]), intVal: v.value.shape } } } },
      { name: `${v.name}/Initializer/zeros/value`, op: 'Const', attr: { dtype: t(dtype), value: { tensor: { dtype, tensorShape: { dim: [] }, ...(dtype === 'DT_FLOAT' ? { floatVal: [0] } : { intVal: [0] }) } } } },
      { name: `${v.name}/Initializer/zeros`, op: 'Fill', input: [`${v.name}/Initializer/zeros/shape`, `${v.name}/Initializer/zeros/value`], attr: { T: t(dtype), index_type: t('DT_INT32') } },
      { name: `${v.name}/Assign`, op: 'AssignVariableOp', input: [v.name, `${v.name}/Initializer/zeros`], attr: { dtype: t(dtype) } },
    );
    variableDefs.push(encode(TfProto.VariableDef, { variableName: `${v.name}:0`, initializerName: `${v.name}/Assign`, snapshotName: `${READ(v.name)}:0`, isResource: true, trainable: true }));
  }
  const names = vars.map((v) => v.name);
  const dtypes = { list: { type: vars.map((v) => TF_DTYPE[v.value.dtype]) } };
  nodes.push(
    { name: 'save/SaveV2/tensor_names', op: 'Const', attr: { dtype: t('DT_STRING'), value: strTensor(names) } },
    { name: 'save/SaveV2/shape_and_slices', op: 'Const', attr: { dtype: t('DT_STRING'), value: strTensor(names.map(() => '')) } },
    { name: 'save/SaveV2', op: 'SaveV2', input: ['save/Const', 'save/SaveV2/tensor_names', 'save/SaveV2/shape_and_slices', ...names.map(READ)], attr: { dtypes } },
    { name: 'save/control_dependency', op: 'Identity', input: ['save/Const', '^save/SaveV2'], attr: { T: t('DT_STRING') } },
    { name: 'save/RestoreV2/tensor_names', op: 'Const', attr: { dtype: t('DT_STRING'), value: strTensor(names) } },
    { name: 'save/RestoreV2/shape_and_slices', op: 'Const', attr: { dtype: t('DT_STRING'), value: strTensor(names.map(() => '')) } },
    { name: 'save/RestoreV2', op: 'RestoreV2', input: ['save/Const', 'save/RestoreV2/tensor_names', 'save/RestoreV2/shape_and_slices'], attr: { dtypes } },
  );
  vars.forEach((v, k) => nodes.push({ name: `save/AssignVariableOp_${k}`, op: 'AssignVariableOp', input: [v.name, `save/RestoreV2:${k}`], attr: { dtype: t(TF_DTYPE[v.value.dtype]) } }));
  nodes.push({ name: 'save/restore_all', op: 'NoOp', input: vars.map((_, k) => `^save/AssignVariableOp_${k}`) });
  return { nodes, variableDefs };
}

function tensorInfo(s: TensorSpec): object {
  return { name: s.name.includes(':') ? s.name : `${s.name}:0`, dtype: TF_DTYPE[s.dtype], tensorShape: shapeToProto(s.shape) };
}

export interface SavedModelWriteResult {
  dir: string;
  /** Bytes of saved_model.pb, the variables data file, and the index. */
  bytes: { graph: number; variables: number; index: number };
  variableCount: number;
  parameterCount: number;
}

/**
 * Writes `graph` as a SavedModel into `dir` (created; must not hold another model). Weights go to
 * the TensorBundle one tensor at a time.
 */
export function writeSavedModel(dir: string, graph: Graph, opts: { signatureKey?: string } = {}): SavedModelWriteResult {
  const g = prune(graph);
  const vars = g.nodes.filter((n) => g.weights.has(n.name)).map((n) => ({ name: n.name, value: (n.attrs.value as { tensor: HostTensor }).tensor }));
  const rename = new Map(vars.map((v) => [v.name, READ(v.name)]));
  const body = g.nodes
    .filter((n) => !g.weights.has(n.name))
    .map((n) => nodeToProto({ ...n, inputs: n.inputs.map((i) => (i.startsWith('^') ? i : rename.get(nodeOf(i)) ?? i)) }));
  const { nodes: varNodes, variableDefs } = variableNodes(vars);
  const outputs = Object.fromEntries(Object.entries(g.outputs).map(([k, s]) => [k, tensorInfo({ ...s, name: rename.has(nodeOf(s.name)) ? READ(nodeOf(s.name)) : s.name })]));
  const saved = {
    savedModelSchemaVersion: 1,
    metaGraphs: [{
      metaInfoDef: { metaGraphVersion: 'guie-ts', tags: [SERVE_TAG] },
      graphDef: { node: [...varNodes, ...body], versions: { producer: GRAPH_PRODUCER } },
      saverDef: { filenameTensorName: 'save/Const:0', saveTensorName: 'save/control_dependency:0', restoreOpName: 'save/restore_all', maxToKeep: 5, keepCheckpointEveryNHours: 10000, version: 'V2' },
      collectionDef: variableDefs.length ? { variables: { bytesList: { value: variableDefs } }, trainable_variables: { bytesList: { value: variableDefs } } } : {},
      signatureDef: { [opts.signatureKey ?? SIGNATURE_KEY]: { inputs: Object.fromEntries(Object.entries(g.inputs).map(([k, s]) => [k, tensorInfo(s)])), outputs, methodName: PREDICT_METHOD } },
    }],
  };
  fs.mkdirSync(path.join(dir, 'variables'), { recursive: true });
  const pb = encode(TfProto.SavedModel, saved);
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), pb);
  const prefix = path.join(dir, 'variables', 'variables');
  writeTensorBundle(prefix, (function* () {
    for (const v of vars) yield { name: v.name, ...v.value };
  })());
  return {
    dir,
    bytes: { graph: pb.length, variables: fs.statSync(dataFile(prefix)).size, index: fs.statSync(`${prefix}.index`).size },
    variableCount: vars.length,
    parameterCount: vars.reduce((s, v) => s + v.value.data.length, 0),
  };
}

interface TensorInfoObj { name?: string; dtype?: string; tensorShape?: ShapeProto }
interface SignatureObj { inputs?: Record<string, TensorInfoObj>; outputs?: Record<string, TensorInfoObj>; methodName?: string }
interface MetaGraphObj {
  metaInfoDef?: { tags?: string[] };
  graphDef?: { node?: NodeDefObj[] };
  saverDef?: { restoreOpName?: string };
  signatureDef?: Record<string, SignatureObj>;
}

export interface LoadedSavedModel {
  /** The signature's subgraph with variables frozen into weight Consts (values from the bundle). */
  graph: Graph;
  signatureKeys: string[];
  /** Every variable the checkpoint holds, with its shape (including ones the signature does not use). */
  checkpoint: { name: string; shape: number[] }[];
}

function specOf(key: string, info: TensorInfoObj, where: string): TensorSpec {
  if (!info.name) throw new Error(`${where}: ${key} has no tensor name`);
  return { name: info.name, dtype: dtypeFromTf(info.dtype ?? 'DT_INVALID', `${where} ${key}`), shape: shapeFromProto(info.tensorShape) };
}

/** Checkpoint key of each variable, read from the Saver's RestoreV2 -> AssignVariableOp wiring. */
function checkpointKeys(nodes: NodeDefObj[]): Map<string, string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const keys = new Map<string, string>();
  for (const n of nodes) {
    if (n.op !== 'AssignVariableOp' || !n.input || n.input.length < 2) continue;
    let src = n.input[1];
    for (let hop = 0; hop < 4 && byName.get(nodeOf(src))?.op === 'Identity'; hop++) src = byName.get(nodeOf(src))!.input![0];
    const restore = byName.get(nodeOf(src));
    if (restore?.op !== 'RestoreV2') continue;
    const names = byName.get(nodeOf(restore.input![1]))?.attr?.value?.tensor?.stringVal;
    const k = Number(src.split(':')[1] ?? 0);
    if (names && names[k]) keys.set(nodeOf(n.input[0]), Buffer.from(names[k]).toString('utf8'));
  }
  return keys;
}

/**
 * Parses DIR/saved_model.pb and DIR/variables, and returns the signature's graph with variables
 * replaced by their checkpoint values: the graph that was written, ready to run.
 */
export function readSavedModel(dir: string, signatureKey = SIGNATURE_KEY): LoadedSavedModel {
  const pbFile = path.join(dir, 'saved_model.pb');
  if (!fs.existsSync(pbFile)) throw new Error(`${pbFile}: missing (a SavedModel directory holds saved_model.pb)`);
  const sm = decode<{ metaGraphs?: MetaGraphObj[] }>(TfProto.SavedModel, fs.readFileSync(pbFile), pbFile);
  const mg = (sm.metaGraphs ?? []).find((m) => (m.metaInfoDef?.tags ?? []).includes(SERVE_TAG));
  if (!mg) throw new Error(`${pbFile}: no MetaGraphDef tagged "${SERVE_TAG}" (found ${(sm.metaGraphs ?? []).length} meta graphs)`);
  const sigs = mg.signatureDef ?? {};
  const sig = sigs[signatureKey];
  if (!sig) throw new Error(`${pbFile}: no signature "${signatureKey}" (signatures: ${Object.keys(sigs).join(', ') || 'none'})`);
  const inputs = Object.fromEntries(Object.entries(sig.inputs ?? {}).map(([k, v]) => [k, specOf(k, v, `${pbFile} signature ${signatureKey} input`)]));
  const outputs = Object.fromEntries(Object.entries(sig.outputs ?? {}).map(([k, v]) => [k, specOf(k, v, `${pbFile} signature ${signatureKey} output`)]));
  const nodeDefs = mg.graphDef?.node ?? [];
  const keys = checkpointKeys(nodeDefs);

  const prefix = path.join(dir, 'variables', 'variables');
  const entries = fs.existsSync(`${prefix}.index`) ? readBundleIndex(prefix) : [];
  const entryByName = new Map(entries.map((e) => [e.name, e]));
  const raw: Graph = { nodes: nodeDefs.map((n) => ({ name: n.name, op: n.op, inputs: n.input ?? [], attrs: {} })), weights: new Set(), inputs, outputs };
  const needed = new Set(prune(raw).nodes.map((n) => n.name));
  const defs = new Map(nodeDefs.map((n) => [n.name, n]));

  const nodes: GraphNode[] = [];
  const weights = new Set<string>();
  const fd = entries.length ? fs.openSync(dataFile(prefix), 'r') : undefined;
  try {
    for (const name of needed) {
      const def = defs.get(name)!;
      if (def.op === 'VarHandleOp') {
        const key = keys.get(name) ?? name;
        const e = entryByName.get(key);
        if (!e) throw new Error(`${prefix}.index: variable "${name}" (checkpoint key "${key}") has no entry`);
        const want = shapeFromProto(def.attr?.shape?.shape);
        if (want && want.join(',') !== e.shape.join(',')) throw new Error(`${prefix}.index: variable "${name}" has shape [${e.shape}] but the graph declares [${want}]`);
        nodes.push({ name, op: 'Const', inputs: [], attrs: { dtype: { type: e.dtype }, value: { tensor: readBundleTensor(prefix, e, fd) } } });
        weights.add(name);
      } else if (def.op === 'ReadVariableOp') {
        nodes.push({ name, op: 'Identity', inputs: def.input ?? [], attrs: { T: { type: dtypeFromTf(def.attr?.dtype?.type ?? 'DT_INVALID', `node ${name}`) } } });
      } else {
        nodes.push(nodeFromProto(def));
      }
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return {
    graph: prune({ nodes, weights, inputs, outputs }),
    signatureKeys: Object.keys(sigs),
    checkpoint: entries.map((e) => ({ name: e.name, shape: e.shape })),
  };
}
