/**
 * The leave-domain-out stage (>= 2 domains): every head recipe trained leaving each domain out in turn
 * (lib/train/leave-domain-out.ts); the held-out domains pick the recipe and its epochs, and the chosen
 * recipe's folds are reported beside the training-free baselines of the same rows.
 */
import type { Config } from '../config';
import type { MetricsReport } from '../retrieval/metrics';
import type { FeatureCache } from '../train/feature-cache';
import { chooseRecipe, foldBaselines, foldDomains, leaveDomainOut, type RecipeResult } from '../train/leave-domain-out';
import { type HeldOut, score } from './score';
import type { Stage } from './stage';

export interface RecipeSummary {
  recipe: string;
  /** Mean held-out-domain validation mP@5 at its best epoch (what chose the recipe). */
  validation: number;
  epochs: number;
  /** Mean over the held-out domains of the fold heads' scores on the domains' queries (reported, never used to choose). */
  test: number;
}

export interface LeaveOutScores {
  domain: string;
  queries: number;
  /** Training rows left after dropping the domain. */
  trainRows: number;
  /** A head trained without the domain (the chosen recipe, head stage only), at the epoch the domain's own training rows chose. */
  trained: number;
  /** That epoch (0 = the untrained whitening start). */
  epoch: number;
  /** Whitened PCA fitted on the same training rows (without the domain). */
  whitened: number;
  whitenedGallery: number;
  raw: number;
}

export interface SearchResult {
  chosen: RecipeResult;
  tried: RecipeSummary[];
  rows: LeaveOutScores[];
}

/** The features and baselines the search scores with; the fold heads train under `outDir`. */
interface SearchInputs {
  config: Config;
  held: HeldOut;
  cache: FeatureCache;
  featureKey: string;
  recipes: string[];
  pcaDim: number;
  gallery: { raw: MetricsReport; whitenedGallery: MetricsReport };
  outDir: string;
}

/** The search, or null when the data has one domain (nothing to leave out: the first recipe is trained as configured). */
export async function recipeSearchStage(stage: Stage, a: SearchInputs): Promise<SearchResult | null> {
  if (foldDomains(a.held.data, a.held.split).length === 0) return null;
  return stage('leave domain out', () => recipeSearch(a), formatSearch);
}

async function recipeSearch(a: SearchInputs): Promise<SearchResult> {
  const { data, split } = a.held;
  const scorer = (q: Float32Array, x: Float32Array, dim: number) => score(data, split, q, x, dim);
  const base = await foldBaselines({ data, split, cache: a.cache, score: scorer, pcaDim: a.pcaDim, seed: a.config.seed });
  const results: RecipeResult[] = [];
  for (const recipe of a.recipes) results.push(await leaveDomainOut({ config: a.config, data, split, cache: a.cache, featureKey: a.featureKey, score: scorer, outDir: a.outDir, recipe }));
  const chosen = chooseRecipe(results);
  const rows = chosen.folds.map((f): LeaveOutScores => {
    const b = base.find((x) => x.domain === f.domain)!;
    return { domain: f.domain, queries: b.queries, trainRows: f.trainRows, trained: f.test, epoch: f.bestEpoch, whitened: b.whitened, whitenedGallery: a.gallery.whitenedGallery.byDomain[f.domain].mP5, raw: a.gallery.raw.byDomain[f.domain].mP5 };
  });
  const tried = results.map((r) => ({ recipe: r.recipe, validation: r.score, epochs: r.epochs, test: r.folds.reduce((acc, f) => acc + f.test, 0) / r.folds.length }));
  return { chosen, tried, rows };
}

function formatSearch(s: SearchResult): string {
  const losers = s.rows.filter((r) => r.trained < r.whitened).map((r) => r.domain);
  return (
    `recipes by mean held-out-domain validation: ${s.tried.map((t) => `${t.recipe} ${t.validation.toFixed(4)} at epoch ${t.epochs}`).join(', ')}; chosen ${s.chosen.recipe}; ` +
    s.rows.map((r) => `${r.domain}: trained without it ${r.trained.toFixed(4)} vs whitened ${r.whitened.toFixed(4)} (on the gallery ${r.whitenedGallery.toFixed(4)}, raw ${r.raw.toFixed(4)}; ${r.queries} queries)`).join('; ') +
    (losers.length > 0 ? `; warning: the trained head loses to the training-free whitening on ${losers.join(', ')}` : '')
  );
}
