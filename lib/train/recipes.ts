/**
 * Head recipes the main job chooses between by their leave-one-domain-out validation score (never the
 * in-domain one): each is a small override of the configured head settings, applied on top of them.
 */
import type { Config } from '../config';

type RecipeKeys = 'lr' | 'margin' | 'arcMargin' | 'arcScale' | 'subCenters' | 'anchor' | 'labelSmoothing' | 'headInit';

export const RECIPES: Readonly<Record<string, Readonly<Partial<Pick<Config, RecipeKeys>>>>> = Object.freeze({
  /** The head settings as configured. */
  base: {},
  /** L2-SP: the Dense(64) pulled back toward the whitening projection it started from. */
  'l2-sp': { anchor: 0.01 },
  /** CosFace (additive cosine margin) at a smaller margin. */
  cosface: { margin: 'cosface', arcMargin: 0.2 },
  /** Sub-center ArcFace: 3 centres per class absorb noisy views. */
  'sub-center': { subCenters: 3 },
  /** A lower head lr: smaller steps away from the whitening start. */
  'low-lr': { lr: 3e-3 },
});

export const RECIPE_NAMES: readonly string[] = Object.keys(RECIPES);

/** "base,l2-sp" -> ['base', 'l2-sp']; an unknown or repeated name is an error naming it and the known ones. */
export function parseRecipes(list: string): string[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new Error(`recipes: empty list (known: ${RECIPE_NAMES.join(', ')})`);
  for (const n of names) if (!(n in RECIPES)) throw new Error(`recipes: unknown recipe "${n}" (known: ${RECIPE_NAMES.join(', ')})`);
  const seen = names.find((n, i) => names.indexOf(n) !== i);
  if (seen) throw new Error(`recipes: "${seen}" is listed twice`);
  return names;
}

/** The config a recipe trains with: the configured settings, the recipe's overrides on top. */
export function recipeConfig(config: Config, name: string): Config {
  const over = RECIPES[name];
  if (!over) throw new Error(`recipes: unknown recipe "${name}" (known: ${RECIPE_NAMES.join(', ')})`);
  return { ...config, ...over };
}
