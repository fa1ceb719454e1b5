/** PCA-k against scikit-learn's exact PCA (svd_solver='full'): axes up to sign, variances, mean. */
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { applyPca, fitPca } from '../../lib/retrieval/pca';
import { runPythonJson } from './python';

function lowRankData(n: number, d: number, seed: number): Float32Array {
  // 8 strong directions with distinct variances + small isotropic noise: a well-separated spectrum
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const dirs = Array.from({ length: 8 }, () => Array.from({ length: d }, rnd));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 8; j++) {
      const c = rnd() * (8 - j) * 2;
      for (let t = 0; t < d; t++) x[i * d + t] += c * dirs[j][t];
    }
  for (let t = 0; t < x.length; t++) x[t] += 0.05 * rnd() + 0.3;
  return x;
}

test('top-k axes, variances and mean match scikit-learn (|cos| > 0.999, rel. var. error < 1e-3)', async () => {
  await initBackend();
  const [n, d, k] = [300, 200, 6];
  const x = lowRankData(n, d, 7);
  const ours = fitPca(x, d, k);
  const ref = runPythonJson<{ components: number[][]; variances: number[]; mean: number[] }>(path.join(__dirname, 'retrieval_pca.py'), [], JSON.stringify({ x: Array.from(x), n, d, k }));
  for (let j = 0; j < k; j++) {
    let dot = 0;
    for (let t = 0; t < d; t++) dot += ours.components[t * k + j] * ref.components[j][t];
    expect(Math.abs(dot)).toBeGreaterThan(0.999);
    expect(Math.abs(ours.variances[j] - ref.variances[j]) / ref.variances[j]).toBeLessThan(1e-3);
  }
  for (let t = 0; t < d; t++) expect(ours.mean[t]).toBeCloseTo(ref.mean[t], 4);
  const y = applyPca(ours, x.subarray(0, d * 3));
  expect(y.length).toBe(3 * k);
  for (let i = 0; i < 3; i++) expect(Math.hypot(...y.subarray(i * k, i * k + k))).toBeCloseTo(1, 5);
  expect(() => fitPca(x, d, d + 1)).toThrow(/k=201 must be in 1\.\.200/);
});
