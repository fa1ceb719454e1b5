/**
 * Checkpoint name maps as data (timm's checkpoint_filter_fn idea): how each of our parameters
 * (OpenCLIP names, no `visual.` prefix) is found in the common file layouts. `{i}` is a block index.
 */

/** 'hf': `vision_model.`-prefixed (CLIPModel, CLIPVisionModelWithProjection, transformers 4 CLIPVisionModel); 'hf-vision': transformers 5 CLIPVisionModel, unprefixed. */
export type WeightLayout = 'openclip' | 'hf' | 'hf-vision' | 'bare';

export interface WeightSource {
  /** Key in the file. */
  key: string;
  /** Slice of a fused tensor along dim 0 (torch MultiheadAttention packs q|k|v in in_proj). */
  part?: 0 | 1 | 2;
  /** File stores the transpose of our layout (HF visual_projection is a Linear [out, in]; open_clip proj is [in, out]). */
  transpose?: boolean;
}

export interface LayoutSpec {
  /** A key that identifies the layout. */
  marker: string;
  /** Keys of the vision tower in this layout: anything matching and not mapped is an unexpected key. */
  owns: (key: string) => boolean;
  /** Keys the layout may hold that we deliberately ignore. */
  ignored: RegExp[];
  /** Our name (with `{i}`) -> where it lives. */
  map: Record<string, WeightSource[]>;
}

const OPENCLIP_NAMES = [
  'class_embedding', 'positional_embedding', 'conv1.weight', 'ln_pre.weight', 'ln_pre.bias',
  'transformer.resblocks.{i}.ln_1.weight', 'transformer.resblocks.{i}.ln_1.bias',
  'transformer.resblocks.{i}.attn.in_proj_weight', 'transformer.resblocks.{i}.attn.in_proj_bias',
  'transformer.resblocks.{i}.attn.out_proj.weight', 'transformer.resblocks.{i}.attn.out_proj.bias',
  'transformer.resblocks.{i}.ln_2.weight', 'transformer.resblocks.{i}.ln_2.bias',
  'transformer.resblocks.{i}.mlp.c_fc.weight', 'transformer.resblocks.{i}.mlp.c_fc.bias',
  'transformer.resblocks.{i}.mlp.c_proj.weight', 'transformer.resblocks.{i}.mlp.c_proj.bias',
  'ln_post.weight', 'ln_post.bias', 'proj',
];

function prefixed(prefix: string): Record<string, WeightSource[]> {
  return Object.fromEntries(OPENCLIP_NAMES.map((n) => [n, [{ key: prefix + n }]]));
}

/** Hugging Face CLIP vision names under `prefix`; the projection (if any) sits outside it. */
function hfLayout(prefix: string): LayoutSpec {
  const layer = `${prefix}encoder.layers.{i}.`;
  const qkv = (kind: 'weight' | 'bias'): WeightSource[] =>
    (['q', 'k', 'v'] as const).map((x, part) => ({ key: `${layer}self_attn.${x}_proj.${kind}`, part: part as 0 | 1 | 2 }));
  const tower = ['embeddings.', 'encoder.', 'pre_layrnorm.', 'post_layernorm.'].map((p) => prefix + p);
  return {
    marker: `${prefix}embeddings.patch_embedding.weight`,
    owns: (k) => tower.some((p) => k.startsWith(p)) || k === 'visual_projection.weight',
    ignored: [/(^|\.)embeddings\.position_ids$/],
    map: {
      class_embedding: [{ key: `${prefix}embeddings.class_embedding` }],
      positional_embedding: [{ key: `${prefix}embeddings.position_embedding.weight` }],
      'conv1.weight': [{ key: `${prefix}embeddings.patch_embedding.weight` }],
      'ln_pre.weight': [{ key: `${prefix}pre_layrnorm.weight` }], // sic: HF's spelling
      'ln_pre.bias': [{ key: `${prefix}pre_layrnorm.bias` }],
      'transformer.resblocks.{i}.ln_1.weight': [{ key: `${layer}layer_norm1.weight` }],
      'transformer.resblocks.{i}.ln_1.bias': [{ key: `${layer}layer_norm1.bias` }],
      'transformer.resblocks.{i}.attn.in_proj_weight': qkv('weight'),
      'transformer.resblocks.{i}.attn.in_proj_bias': qkv('bias'),
      'transformer.resblocks.{i}.attn.out_proj.weight': [{ key: `${layer}self_attn.out_proj.weight` }],
      'transformer.resblocks.{i}.attn.out_proj.bias': [{ key: `${layer}self_attn.out_proj.bias` }],
      'transformer.resblocks.{i}.ln_2.weight': [{ key: `${layer}layer_norm2.weight` }],
      'transformer.resblocks.{i}.ln_2.bias': [{ key: `${layer}layer_norm2.bias` }],
      'transformer.resblocks.{i}.mlp.c_fc.weight': [{ key: `${layer}mlp.fc1.weight` }],
      'transformer.resblocks.{i}.mlp.c_fc.bias': [{ key: `${layer}mlp.fc1.bias` }],
      'transformer.resblocks.{i}.mlp.c_proj.weight': [{ key: `${layer}mlp.fc2.weight` }],
      'transformer.resblocks.{i}.mlp.c_proj.bias': [{ key: `${layer}mlp.fc2.bias` }],
      'ln_post.weight': [{ key: `${prefix}post_layernorm.weight` }],
      'ln_post.bias': [{ key: `${prefix}post_layernorm.bias` }],
      proj: [{ key: 'visual_projection.weight', transpose: true }],
    },
  };
}

export const LAYOUTS: Record<WeightLayout, LayoutSpec> = {
  /** open_clip state dicts and `open_clip_model.safetensors` (the text tower is skipped). */
  openclip: { marker: 'visual.conv1.weight', owns: (k) => k.startsWith('visual.'), ignored: [], map: prefixed('visual.') },
  /** Our own checkpoints of the tower alone (namedWeights() as saved). */
  bare: { marker: 'conv1.weight', owns: () => true, ignored: [], map: prefixed('') },
  /** Hugging Face CLIPModel / CLIPVisionModelWithProjection (and transformers 4's CLIPVisionModel). */
  hf: hfLayout('vision_model.'),
  /** transformers 5's CLIPVisionModel: the same names without the prefix. */
  'hf-vision': hfLayout(''),
};

/** Sources of one of our parameter names in a layout (block index filled in). */
export function sourcesFor(layout: WeightLayout, name: string): WeightSource[] {
  const m = /^transformer\.resblocks\.(\d+)\.(.*)$/.exec(name);
  const templ = m ? `transformer.resblocks.{i}.${m[2]}` : name;
  const src = LAYOUTS[layout].map[templ];
  if (!src) throw new Error(`no ${layout} name for parameter "${name}"`);
  return src.map((s) => ({ ...s, key: m ? s.key.replace('{i}', m[1]) : s.key }));
}
