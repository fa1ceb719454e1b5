/** How much a held-out mP@5 says at a given number of queries (standard error ~0.5/sqrt(n)), and the warnings that follow. */

/** Below this many held-out queries an mP@5 difference says little. */
export const FEW_QUERIES = 30;

export const noise = (n: number): number => 0.5 / Math.sqrt(n);

export const fewQueries = (n: number, split: string): string =>
  `only ${n} held-out queries: mP@5 is +-${noise(n).toFixed(2)} noise at this size; add photos or classes, raise validFraction${split === 'images' ? '' : ', or try --split images'}`;

/** The backbone stage's effect on the held-out score, said as plainly as the query count allows; null when it helped. */
export function backboneVerdict(tuned: number, headOnly: number, queries: number): string | null {
  if (tuned >= headOnly) return null;
  const within = headOnly - tuned <= noise(queries);
  return `the backbone stage lowered the held-out score (${headOnly.toFixed(4)} -> ${tuned.toFixed(4)}${within ? `, within the +-${noise(queries).toFixed(2)} noise of ${queries} queries` : ''}); the tuned model is the one exported: set backboneEpochs to 0 for the head alone, or lower backboneLr`;
}
