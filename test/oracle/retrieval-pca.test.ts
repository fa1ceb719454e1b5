/**
 * pca2 against scikit-learn PCA (svd_solver='full'): coordinates up to each axis's sign,
 * tolerance 1e-4 absolute (float32 inputs, float64 maths on both sides); explained variance
 * ratios to 1e-6.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runPythonJson } from './python';
import { pca2 } from '../../lib/viz/projection';
import { gaussian } from '../retrieval/random';

test('pca2 equals scikit-learn PCA up to axis sign', () => {
  const n = 300;
  const dim = 24;
  const z = gaussian(n * dim, 3);
  // anisotropic: axis j scaled by 1/(1+j) so the top components are well separated
  const x = z.map((v, i) => v / (1 + (i % dim)) + 0.3);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'guie-pca-')), 'x.f32');
  fs.writeFileSync(file, new Uint8Array(x.buffer));
  const ref = runPythonJson<{ points: number[][]; explained: number[] }>(path.join(__dirname, 'retrieval_pca.py'), [file, String(dim)]);
  const ours = pca2(x, dim);
  expect(ours.explained![0]).toBeCloseTo(ref.explained[0], 6);
  expect(ours.explained![1]).toBeCloseTo(ref.explained[1], 6);
  let maxErr = 0;
  for (const c of [0, 1]) {
    const sign = Math.sign(ours.points[c] * ref.points[0][c]) || 1;
    for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(ours.points[i * 2 + c] - sign * ref.points[i][c]));
  }
  expect(maxErr).toBeLessThan(1e-4);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});
