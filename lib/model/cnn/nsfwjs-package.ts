/**
 * Reads a packaged CNN out of the installed `nsfwjs` package, whose models ship as JS modules
 * holding the topology (a tfjs graph model or Keras layers JSON) and base64 weight shards.
 */
import type * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import type { PackagedCnnSpec } from './registry';

function nsfwjsRoot(): { root: string; version: string } {
  let dir = path.dirname(require.resolve('nsfwjs'));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const json = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'nsfwjs') return { root: dir, version: json.version ?? 'unknown' };
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the nsfwjs package root (is nsfwjs installed?)');
    dir = up;
  }
}

/** What a cache was built from: the package version, the model and any pooling the spec appends. */
export function sourceId(spec: PackagedCnnSpec): string {
  // the pooling a spec appends is part of what the cache holds: another p or map node rebuilds it
  return `nsfwjs@${nsfwjsRoot().version}/${spec.packageModel}${spec.gem ? `+gem(p=${spec.gem.p} at ${spec.gem.mapNode.split('/').slice(-2).join('/')})` : ''}`;
}

/** The package's UMD modules export their payload as `default` (or directly). */
function requirePayload<T>(file: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { default?: T } & T;
  return mod.default ?? mod;
}

/** Reads the packaged model: topology from model.min.js, weights from the base64 shards. */
export function packageArtifacts(spec: PackagedCnnSpec): tf.io.ModelArtifacts {
  const dir = path.join(nsfwjsRoot().root, 'dist', 'models', spec.packageModel);
  const json = requirePayload<tf.io.ModelJSON>(path.join(dir, 'model.min.js'));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) chunks.push(Buffer.from(requirePayload<string>(path.join(dir, `${p}.min.js`)), 'base64'));
  }
  const all = Buffer.concat(chunks);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}
