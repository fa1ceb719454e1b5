/**
 * Retrieval metrics with the host's rules (google-research `universal_embedding_challenge`
 * metrics.py, `CalibratedPrecision`, and the DELF/GLDv2 `MeanAveragePrecision` it sits beside):
 *
 *   mP@5 = 1/Q * sum_q  1/min(n_q,5) * sum_{j < min(n_q,5)} rel_q(j)
 *
 * - Q is the number of queries in the *solution*: a query without predictions scores 0.
 * - Only the first min(n_q,5) predictions of a query are read. A repeated prediction id is not
 *   counted twice, and it still uses up its slot (the host loops over positions and skips the
 *   repeat; it does not read further down the list to refill).
 * - A predicted query that is not in the solution, or one whose solution lists no relevant
 *   images, is an error (ValueError on the host). A solution query with no relevant images
 *   and no prediction is not checked by the host, and is not checked here either.
 */

/** query id -> ranked index ids (best first). */
export type Predictions = ReadonlyMap<string, readonly string[]>;
/** query id -> relevant index ids. */
export type Relevance = ReadonlyMap<string, readonly string[]>;

/** One query's score from its ranked predictions and its relevant set. */
export type QueryScore = (prediction: readonly string[], relevant: ReadonlySet<string>) => number;

export class MetricError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricError';
  }
}

/** Calibrated precision@k of one query: hits among the first min(n,k) positions, / min(n,k). */
export function calibratedPrecisionAt(k: number): QueryScore {
  return (prediction, relevant) => {
    const expected = Math.min(relevant.size, k);
    const seen = new Set<string>();
    let correct = 0;
    for (let i = 0; i < Math.min(prediction.length, expected); i++) {
      const p = prediction[i];
      if (seen.has(p)) continue;
      if (relevant.has(p)) correct++;
      seen.add(p);
    }
    return correct / expected;
  };
}

/** Average precision over the first `maxPredictions` positions, normalised by min(n, maxPredictions) (GLDv2 rule). */
export function averagePrecisionAt(maxPredictions: number): QueryScore {
  return (prediction, relevant) => {
    const seen = new Set<string>();
    let correct = 0;
    let ap = 0;
    for (let i = 0; i < Math.min(prediction.length, maxPredictions); i++) {
      const p = prediction[i];
      if (seen.has(p)) continue;
      if (relevant.has(p)) {
        correct++;
        ap += correct / (i + 1);
      }
      seen.add(p);
    }
    return ap / Math.min(relevant.size, maxPredictions);
  };
}

/** Recall@k: share of a query's relevant images found among its first k distinct predictions. */
export function recallAt(k: number): QueryScore {
  return (prediction, relevant) => {
    const seen = new Set<string>();
    for (let i = 0; i < Math.min(prediction.length, k); i++) if (relevant.has(prediction[i])) seen.add(prediction[i]);
    return seen.size / relevant.size;
  };
}

/**
 * The host's averaging: validates predicted queries, sums their scores, divides by the number of
 * solution queries. `queries` restricts both sides to a subset (a Usage split or a domain).
 */
export function meanOverSolution(
  predictions: Predictions,
  solution: Relevance,
  score: QueryScore,
  queries?: ReadonlySet<string>,
): number {
  let sum = 0;
  for (const [q, prediction] of predictions) {
    const relevant = solution.get(q);
    if (relevant === undefined) throw new MetricError(`test image ${q} is not part of the retrieval solution`);
    if (queries && !queries.has(q)) continue;
    if (relevant.length === 0) throw new MetricError(`test image ${q} has no relevant images`);
    sum += score(prediction, new Set(relevant));
  }
  const count = queries ? countIn(solution, queries) : solution.size;
  if (count === 0) throw new MetricError('the retrieval solution has no queries');
  return sum / count;
}

function countIn(solution: Relevance, queries: ReadonlySet<string>): number {
  let n = 0;
  for (const q of solution.keys()) if (queries.has(q)) n++;
  return n;
}

/** The host's CalibratedPrecision (mP@k, k = 5 in GUIE). */
export function calibratedPrecision(predictions: Predictions, solution: Relevance, k = 5, queries?: ReadonlySet<string>): number {
  return meanOverSolution(predictions, solution, calibratedPrecisionAt(k), queries);
}

export function meanAveragePrecision(predictions: Predictions, solution: Relevance, maxPredictions = 100, queries?: ReadonlySet<string>): number {
  return meanOverSolution(predictions, solution, averagePrecisionAt(maxPredictions), queries);
}

export function meanRecall(predictions: Predictions, solution: Relevance, k: number, queries?: ReadonlySet<string>): number {
  return meanOverSolution(predictions, solution, recallAt(k), queries);
}

export interface MetricSet {
  queries: number;
  mP5: number;
  mAP100: number;
  /** recall@k for each requested k, keyed "1", "5", ... */
  recall: Record<string, number>;
}

export interface MetricsReport {
  overall: MetricSet;
  /** One entry per solution Usage value (Public, Private). */
  byUsage: Record<string, MetricSet>;
  /** One entry per domain/source, when the solution carries them. */
  byDomain: Record<string, MetricSet>;
}

export interface Breakdown {
  usage?: ReadonlyMap<string, string>;
  domain?: ReadonlyMap<string, string>;
}

/** Public before Private (the host's leaderboard order), anything else alphabetically after. */
function leaderboardOrder(a: string, b: string): number {
  const rank = (s: string) => ['Public', 'Private'].indexOf(s) >>> 0; // -1 -> 2^32-1: after both
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Every metric overall, per Usage split and per domain. */
export function retrievalMetrics(
  predictions: Predictions,
  solution: Relevance,
  breakdown: Breakdown = {},
  recallKs: readonly number[] = [1, 5, 10, 100],
): MetricsReport {
  const set = (queries?: ReadonlySet<string>): MetricSet => ({
    queries: queries ? countIn(solution, queries) : solution.size,
    mP5: calibratedPrecision(predictions, solution, 5, queries),
    mAP100: meanAveragePrecision(predictions, solution, 100, queries),
    recall: Object.fromEntries(recallKs.map((k) => [String(k), meanRecall(predictions, solution, k, queries)])),
  });
  const groups = (labels?: ReadonlyMap<string, string>): Record<string, MetricSet> => {
    const out: Record<string, MetricSet> = {};
    if (!labels) return out;
    const members = new Map<string, Set<string>>();
    for (const q of solution.keys()) {
      const g = labels.get(q);
      if (g === undefined) continue;
      if (!members.has(g)) members.set(g, new Set());
      members.get(g)!.add(q);
    }
    for (const g of [...members.keys()].sort(leaderboardOrder)) out[g] = set(members.get(g));
    return out;
  };
  return { overall: set(), byUsage: groups(breakdown.usage), byDomain: groups(breakdown.domain) };
}
