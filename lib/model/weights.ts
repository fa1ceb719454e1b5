/**
 * Loads a CLIP image tower from safetensors in OpenCLIP, Hugging Face or bare layout, tensor by
 * tensor (a ViT-H file is never read whole), into our names and PyTorch layouts; saves ours back.
 * Errors name the file, the key and expected vs found.
 */
import * as tf from '@tensorflow/tfjs';
import { resamplePosEmbed } from './pos-embed';
import { SafetensorsFile, writeSafetensors } from './safetensors';
import { numel, transpose2d, type Shape } from '../core/layout';
import { Vit } from './vit';
import { fromTfLayout, vitParamShapes } from './vit-layout';
import { gridSize, type VitConfig } from './vit-config';
import { LAYOUTS, sourcesFor, type WeightLayout } from './weight-names';

export interface LoadOptions {
  /** Resample a positional embedding of another square grid (bicubic, see pos-embed.ts); default true. */
  resizePosEmbed?: boolean;
}

export interface LoadedWeights {
  layout: WeightLayout;
  weights: Map<string, tf.Tensor>;
  /** What was adapted on the way (resampled grid, dropped projection). */
  notes: string[];
}

export function detectLayout(st: SafetensorsFile): WeightLayout {
  for (const layout of ['openclip', 'hf', 'hf-vision', 'bare'] as const) if (st.tensors.has(LAYOUTS[layout].marker)) return layout;
  const keys = st.keys();
  throw new Error(
    `${st.file}: no CLIP ViT image tower found (wrong architecture?): expected "visual.conv1.weight" (OpenCLIP), ` +
      `"[vision_model.]embeddings.patch_embedding.weight" (Hugging Face) or "conv1.weight"; the file has ${keys.length} tensors, e.g. ${keys.slice(0, 4).join(', ')}`,
  );
}

const fmt = (s: Shape) => `[${s.join(', ')}]`;

function blockCount(st: SafetensorsFile, layout: WeightLayout): number {
  const re = layout.startsWith('hf') ? /encoder\.layers\.(\d+)\./ : /transformer\.resblocks\.(\d+)\./;
  let n = 0;
  for (const k of st.keys()) {
    const m = LAYOUTS[layout].owns(k) ? re.exec(k) : null;
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** Reads every tower parameter of `cfg` from an open file; shapes are checked per source key. */
export function readVitWeights(st: SafetensorsFile, cfg: VitConfig, opts: LoadOptions = {}): LoadedWeights {
  const layout = detectLayout(st);
  const spec = LAYOUTS[layout];
  const notes: string[] = [];
  const fileBlocks = blockCount(st, layout);
  if (fileBlocks !== cfg.layers) {
    throw new Error(`${st.file}: wrong architecture: the file's image tower has ${fileBlocks} transformer blocks, config ${cfg.name} has ${cfg.layers}`);
  }
  const shapes = vitParamShapes(cfg);
  const used = new Set<string>();
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const [name, shape] of shapes) {
      const sources = sourcesFor(layout, name);
      const parts: Float32Array[] = [];
      for (const src of sources) {
        const info = st.tensors.get(src.key);
        if (!info) throw new Error(`${st.file}: missing key "${src.key}" (${layout} layout) for parameter ${name} ${fmt(shape)} of ${cfg.name}`);
        used.add(src.key);
        // Expected shape of this source in the file's own layout.
        let want: Shape = src.part === undefined ? shape : [shape[0] / 3, ...shape.slice(1)];
        if (src.transpose) want = [...want].reverse();
        let { data } = st.read(src.key);
        if (!tf.util.arraysEqual(info.shape, want)) {
          const g = gridSize(cfg);
          const oldGrid = Math.round(Math.sqrt(info.shape[0] - 1));
          const resizable = name === 'positional_embedding' && opts.resizePosEmbed !== false && info.shape.length === 2 && info.shape[1] === cfg.width && oldGrid * oldGrid + 1 === info.shape[0];
          if (!resizable) throw new Error(`${st.file}: key "${src.key}" has shape ${fmt(info.shape)}, expected ${fmt(want)} for ${cfg.name}`);
          data = resamplePosEmbed(data, cfg.width, oldGrid, g);
          notes.push(`positional_embedding resampled from a ${oldGrid}x${oldGrid} to a ${g}x${g} grid (bicubic, antialiased)`);
        }
        parts.push(src.transpose ? transpose2d(data, want[0], want[1]) : data);
      }
      const data = parts.length === 1 ? parts[0] : concatArrays(parts, numel(shape));
      weights.set(name, tf.tensor(data, shape, 'float32'));
    }
  } catch (e) {
    weights.forEach((t) => t.dispose());
    throw e;
  }
  const unexpected = st.keys().filter((k) => spec.owns(k) && !used.has(k) && !spec.ignored.some((re) => re.test(k)));
  const droppedProj = unexpected.filter((k) => cfg.outputDim === null && (k === 'visual.proj' || k === 'proj' || k === 'visual_projection.weight'));
  if (droppedProj.length) notes.push(`output projection ${droppedProj[0]} not used (config ${cfg.name} has outputDim null)`);
  const rest = unexpected.filter((k) => !droppedProj.includes(k));
  if (rest.length) {
    weights.forEach((t) => t.dispose());
    throw new Error(`${st.file}: wrong architecture for ${cfg.name}: unexpected image-tower keys ${rest.slice(0, 5).join(', ')}${rest.length > 5 ? ` (+${rest.length - 5} more)` : ''}`);
  }
  return { layout, weights, notes };
}

function concatArrays(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Opens `file`, reads the tower weights for `cfg`, closes the file. */
export function loadVitWeights(file: string, cfg: VitConfig, opts: LoadOptions = {}): LoadedWeights {
  const st = SafetensorsFile.open(file);
  try {
    return readVitWeights(st, cfg, opts);
  } finally {
    st.close();
  }
}

/** A ready ViT from a safetensors file of any supported layout. */
export function loadVit(file: string, cfg: VitConfig, opts: LoadOptions = {}): { vit: Vit; layout: WeightLayout; notes: string[] } {
  const { weights, layout, notes } = loadVitWeights(file, cfg, opts);
  return { vit: Vit.fromWeights(cfg, weights), layout, notes };
}

/** Saves a tower in OpenCLIP layout (`visual.` prefix) or bare names, float32, atomically. */
export function saveVit(vit: Vit, file: string, layout: 'openclip' | 'bare' = 'openclip'): void {
  const prefix = layout === 'openclip' ? 'visual.' : '';
  const shapes = vitParamShapes(vit.config).map(([n, s]): [string, Shape] => [prefix + n, s]);
  const read = (key: string): Float32Array => {
    const t = vit.namedWeight(key.slice(prefix.length));
    const data = t.dataSync() as Float32Array;
    t.dispose();
    return data;
  };
  writeSafetensors(file, shapes, read, { format: 'pt', config: vit.config.name });
}

/** A ViT's own variables (e.g. a fine-tuned checkpoint's `backbone.*` tensors, TF layouts) -> tensors in the file layout vitParamShapes names (what loaders and the export graph take). */
export function vitFileWeights(cfg: VitConfig, variables: ReadonlyMap<string, { values: Float32Array; shape: number[] }>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, shape] of vitParamShapes(cfg)) {
    const v = variables.get(name);
    if (!v) throw new Error(`ViT ${cfg.name}: no tuned tensor for "${name}"`);
    const w = fromTfLayout(name, { data: v.values, shape: v.shape });
    if (!tf.util.arraysEqual(w.shape, shape)) throw new Error(`ViT ${cfg.name}: tuned tensor "${name}" has shape [${v.shape}], which is [${w.shape}] in the file layout, expected [${shape}]`);
    out.set(name, tf.tensor(w.data, shape, 'float32'));
  }
  return out;
}
