/**
 * `guie verify-submission`: checks a submission.zip the way the scorer will use it.
 *   1. layout: SavedModel files at the zip root (a nested folder is the classic mistake)
 *   2. saved_model.pb parses; `serving_default` takes uint8 [-1,-1,-1,3]; declared output width <= 64
 *   3. every variable the graph reads is in the checkpoint with the declared shape (crc32c checked)
 *   4. the preprocessing the export records (export.json / model.onnx beside the zip) is the reference's
 *   5. the graph parsed back from the files runs (tfjs's GraphDef executor) on images of several
 *      sizes and modes: output width <= 64, finite, unit norm
 *   6. optional agreement with a reference (the training-side embedder) on every probe, raw sizes
 *      included, both sides resizing the raw image themselves; the parsed-back graph runs in ONNX
 *      Runtime for this, which computes the in-graph Pillow resample in float64 as TensorFlow does
 *      (tfjs has no float64: a pixel moves by one 8-bit level now and then, up to ~1e-4 on an embedding)
 *   7. size and per-image latency
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { processAlive } from '../util/lock';
import * as ort from 'onnxruntime-node';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import type { Graph, GraphAbout } from './graph';
import { readOnnxAbout, writeOnnx } from './onnx';
import { readSavedModel, SIGNATURE_KEY } from './savedmodel';
import { unpackSubmission, unzipBudget } from './submission-unzip';
import { loadTfjsGraph, runTfjsGraph } from './tfjs-graph';

export const MAX_DIM = 64;

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  zip: string;
  ok: boolean;
  checks: VerifyCheck[];
  zipBytes: number;
  parameters: number;
  outputDim: number | null;
  /** Wall time per image of the tfjs run (after a warm-up), by probe image. */
  latencyMs: Record<string, number>;
  /** tfjs backend that ran the graph (latencies depend on it). */
  backend: string;
}

export interface VerifyOptions {
  /** The training-side model; its embeddings of the probe images must match within `tolerance`. */
  reference?: Embedder;
  tolerance?: number;
  /** Output key to check (default `embedding`; `embedding_norm` is checked too when present). */
  output?: string;
  /** Extra probe images (e.g. real photos) besides the synthetic ones. */
  images?: { name: string; image: RgbImage }[];
  /** What the export records (backbone, preprocessing); default: read from export.json or model.onnx beside the zip. */
  about?: GraphAbout;
  /** Most bytes the zip may expand to (default 4 GiB: a ViT-H SavedModel is ~2.5 GB); also capped at 20x the zip + 64 MiB (model weights barely compress). */
  maxBytes?: number;
}

/** A deterministic textured test image. */
function patternImage(width: number, height: number, gray: boolean): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const v = (x * 7 + y * 13) % 256;
    for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = gray ? v : (v + 85 * c + ((x * y) % 31)) % 256;
  }
  return { data, width, height };
}

/** Probe images covering what the scorer may feed: tiny, huge, grayscale-as-RGB, non-square (portrait and landscape). */
export function probeImages(): { name: string; image: RgbImage }[] {
  const make = patternImage;
  return [
    { name: 'tiny 3x2', image: make(3, 2, false) },
    { name: 'huge 1600x1200', image: make(1600, 1200, false) },
    { name: 'grayscale-as-RGB 96x96', image: make(96, 96, true) },
    { name: 'non-square 41x237', image: make(41, 237, false) },
    { name: 'landscape 317x211', image: make(317, 211, false) },
    { name: 'portrait 150x400', image: make(150, 400, false) },
  ];
}

/** What `guie export` records beside the submission.zip it writes: export.json, else model.onnx's metadata. */
function recordedAbout(zipFile: string): { about: GraphAbout; source: string } | null {
  const dir = path.dirname(path.resolve(zipFile));
  const info = path.join(dir, 'export.json'); // lib/export/export-model.ts EXPORT_INFO
  if (fs.existsSync(info)) return { about: JSON.parse(fs.readFileSync(info, 'utf8')) as GraphAbout, source: info };
  const onnxFile = path.join(dir, 'model.onnx');
  const about = fs.existsSync(onnxFile) ? readOnnxAbout(onnxFile) : null;
  return about ? { about, source: onnxFile } : null;
}

const describePreprocess = (p: GraphAbout['preprocess']): string => `${p.imageSize} px ${p.resize}, mean [${p.mean}], std [${p.std}]`;

/** The recorded preprocessing must be the training side's: the in-graph resize and normalisation are built from it. */
function preprocessingCheck(recorded: { about: GraphAbout; source: string } | null, reference: Embedder | undefined): VerifyCheck {
  if (!recorded) return { name: 'preprocessing', ok: true, detail: `nothing recorded beside the zip (no export.json or model.onnx)${reference ? `; the reference's is ${describePreprocess(reference.preprocess)}` : ''}` };
  const { about, source } = recorded;
  const what = `${about.backbone}, ${describePreprocess(about.preprocess)} (${path.basename(source)})`;
  if (!reference || JSON.stringify(about.preprocess) === JSON.stringify(reference.preprocess)) return { name: 'preprocessing', ok: true, detail: `${what}${reference ? `, the same as ${reference.name}'s` : ''}` };
  return { name: 'preprocessing', ok: false, detail: `the export records ${what} but ${reference.name} preprocesses ${describePreprocess(reference.preprocess)}: the submission would see other pixels than training did` };
}


function signatureChecks(graph: Graph, output: string, checks: VerifyCheck[]): number | null {
  const inputs = Object.entries(graph.inputs);
  const [key, spec] = inputs[0] ?? [];
  const okInput = inputs.length === 1 && spec?.dtype === 'uint8' && spec.shape?.length === 4 && spec.shape[3] === 3 && spec.shape.slice(0, 3).every((d) => d === -1);
  checks.push({ name: 'input', ok: okInput, detail: okInput ? `${key}: uint8 [-1,-1,-1,3]` : `expected one uint8 [-1,-1,-1,3] input (any batch and size), got ${inputs.map(([k, s]) => `${k}: ${s.dtype} [${s.shape ?? '?'}]`).join('; ') || 'none'}` });
  const out = graph.outputs[output];
  if (!out) {
    checks.push({ name: 'output', ok: false, detail: `signature has no output "${output}" (outputs: ${Object.keys(graph.outputs).join(', ')})` });
    return null;
  }
  const dim = out.shape?.[out.shape.length - 1] ?? -1;
  const ok = out.dtype === 'float32' && dim > 0 && dim <= MAX_DIM;
  checks.push({ name: 'output', ok, detail: ok ? `${output}: float32 [-1,${dim}]` : `${output}: declared ${out.dtype} [${out.shape ?? '?'}]; the scorer needs float32 embeddings of at most ${MAX_DIM} values (a wrong size scored 0.0)` });
  return dim;
}

type Probe = { name: string; image: RgbImage };

/** Runs every probe through tfjs (output checks, latency); returns the `output` rows. */
async function tfjsRuns(graph: Graph, probes: Probe[], keys: string[], checks: VerifyCheck[], latencyMs: Record<string, number>): Promise<Float32Array[]> {
  const model = await loadTfjsGraph(graph);
  try {
    // warm-up: the first run builds kernels and would inflate the first latency
    runTfjsGraph(model, graph, { data: probes[0].image.data, shape: [1, probes[0].image.height, probes[0].image.width, 3] });
    return probes.map(({ name, image }) => {
      const t0 = performance.now();
      const outs = runTfjsGraph(model, graph, { data: image.data, shape: [1, image.height, image.width, 3] });
      latencyMs[name] = performance.now() - t0;
      for (const k of keys) {
        const v = outs[k];
        const width = v.length;
        const norm = Math.hypot(...v);
        const problems = [
          width > MAX_DIM ? `${width} values (more than ${MAX_DIM})` : '',
          v.some((x) => !Number.isFinite(x)) ? 'non-finite values' : '',
          Math.abs(norm - 1) > 1e-3 ? `L2 norm ${norm.toFixed(4)} (not unit-normalised)` : '',
        ].filter(Boolean);
        checks.push({ name: `run ${name} -> ${k}`, ok: problems.length === 0, detail: problems.length ? problems.join('; ') : `${width} finite values, norm ${norm.toFixed(6)}` });
      }
      return outs[keys[0]];
    });
  } finally {
    model.dispose();
  }
}

/** The parsed-back graph in ONNX Runtime (written to `dir`, external data and all): the `output` row of each probe. */
async function onnxRuns(graph: Graph, probes: Probe[], output: string, dir: string): Promise<Float32Array[]> {
  const file = path.join(dir, 'verify.onnx');
  writeOnnx(file, { ...graph, outputs: { [output]: graph.outputs[output] } });
  const session = await ort.InferenceSession.create(file);
  try {
    const rows: Float32Array[] = [];
    for (const { image } of probes) {
      const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('uint8', image.data, [1, image.height, image.width, 3]) });
      rows.push(Float32Array.from(res[output].data as Float32Array));
    }
    return rows;
  } finally {
    await session.release();
  }
}

const worstOf = (a: Float32Array[], b: (i: number, j: number) => number): number[] => a.map((v, i) => v.reduce((m, x, j) => Math.max(m, Math.abs(x - b(i, j))), 0));

/** The submission's embeddings (ONNX Runtime, float64 resampling) against the reference's on every probe, each side resizing the raw image itself. */
async function agreementCheck(reference: Embedder, probes: Probe[], exact: Float32Array[], tfjs: Float32Array[], tolerance: number): Promise<VerifyCheck> {
  const ref = await reference.embed(probes.map((p) => p.image));
  const errs = worstOf(exact, (i, j) => ref[i * exact[i].length + j]);
  const worst = errs.indexOf(Math.max(...errs));
  const tfjsGap = Math.max(...worstOf(tfjs, (i, j) => exact[i][j]));
  const size = reference.preprocess.imageSize;
  const raw = probes.filter((p) => p.image.width !== size || p.image.height !== size).length;
  return {
    name: 'agreement',
    ok: errs[worst] <= tolerance,
    detail:
      `max |submission - ${reference.name}| = ${errs[worst].toExponential(2)} (${probes[worst].name}) over ${probes.length} images, ${raw} of them at raw sizes other than the model's ${size}x${size} (tolerance ${tolerance}); ` +
      `the graph from the zip run by ONNX Runtime (float64 resampling, as TensorFlow), by tfjs (float32) ${tfjsGap.toExponential(2)} away`,
  };
}

export async function verifySubmission(zipFile: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const output = opts.output ?? 'embedding';
  const tolerance = opts.tolerance ?? 1e-4;
  const checks: VerifyCheck[] = [];
  const report: VerifyReport = { zip: zipFile, ok: false, checks, zipBytes: fs.statSync(zipFile).size, parameters: 0, outputDim: null, latencyMs: {}, backend: tf.getBackend() };
  removeStaleVerifyDirs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${VERIFY_PREFIX}${process.pid}-`));
  // a signal must not leave gigabytes behind: remove the folder, then die of the signal as before
  const onSignal = (sig: NodeJS.Signals) => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal);
  try {
    const unpacked = unpackSubmission(zipFile, dir, unzipBudget(report.zipBytes, opts.maxBytes));
    checks.push(unpacked);
    if (!unpacked.ok) return report;
    let graph: Graph;
    try {
      const loaded = readSavedModel(dir, SIGNATURE_KEY);
      graph = loaded.graph;
      report.parameters = loaded.checkpoint.reduce((s, v) => s + v.shape.reduce((a, b) => a * b, 1), 0);
      checks.push({ name: 'saved_model', ok: true, detail: `saved_model.pb parses; ${loaded.checkpoint.length} variables restored with matching shapes and crc32c` });
    } catch (e) {
      checks.push({ name: 'saved_model', ok: false, detail: e instanceof Error ? e.message.replace(dir, '<zip>') : String(e) });
      return report;
    }
    report.outputDim = signatureChecks(graph, output, checks);
    if (report.outputDim === null) return report;
    const keys = [output, ...Object.keys(graph.outputs).filter((k) => k !== output)];
    const recorded = opts.about ? { about: opts.about, source: 'given' } : recordedAbout(zipFile);
    checks.push(preprocessingCheck(recorded, opts.reference));
    const size = recorded?.about.preprocess.imageSize ?? opts.reference?.preprocess.imageSize;
    const atModelSize = size ? [{ name: `model-size ${size}x${size}`, image: patternImage(size, size, false) }] : [];
    const probes = [...probeImages(), ...atModelSize, ...(opts.images ?? [])];
    const tfjs = await tfjsRuns(graph, probes, keys, checks, report.latencyMs);
    // one model in memory at a time (a ViT-H is 2.5 GB): tfjs's is gone before ONNX Runtime loads its own
    if (opts.reference) checks.push(await agreementCheck(opts.reference, probes, await onnxRuns(graph, probes, output, dir), tfjs, tolerance));
    report.ok = checks.every((c) => c.ok);
    return report;
  } finally {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const VERIFY_PREFIX = 'guie-verify-';

/** Extraction folders of verify runs that were killed (kill -9 runs no handler): their pid is gone. */
export function removeStaleVerifyDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = new RegExp(`^${VERIFY_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    if (!processAlive(Number(m[1]))) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines = [
    `${r.ok ? 'PASS' : 'FAIL'}  ${r.zip}`,
    `size: ${(r.zipBytes / 2 ** 20).toFixed(2)} MiB, ${r.parameters.toLocaleString('en-US')} parameters, output width ${r.outputDim ?? '?'}`,
    ...r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    ...Object.entries(r.latencyMs).map(([k, v]) => `  latency ${k}: ${v.toFixed(1)} ms/image (tfjs ${r.backend} backend)`),
  ];
  return lines.join('\n');
}
