/**
 * Ground truth from folder names: an image's class is the folder it sits in (its id without the
 * file name, so `dishes/12/a.jpg` is class `dishes/12`), its group the top folder when nested two
 * deep (`dishes`), else the class itself. A query's relevant images are the index images of its class.
 */
import type { Solution } from './solution';

const classOf = (id: string) => (id.includes('/') ? id.slice(0, id.lastIndexOf('/')) : '');
const groupOf = (cls: string) => (cls.includes('/') ? cls.slice(0, cls.indexOf('/')) : cls);

export interface FolderTruth {
  solution: Solution;
  /** Query ids whose class has no image in the index (left out of the metrics). */
  unmatched: string[];
}

export function solutionFromIds(queryIds: readonly string[], indexIds: readonly string[]): FolderTruth {
  const flat = [...queryIds, ...indexIds].find((id) => classOf(id) === '');
  if (flat !== undefined) throw new Error(`"${flat}" is not inside a class folder: ground truth from folders needs <class>/<image> (or <group>/<class>/<image>), else pass --solution`);
  const byClass = new Map<string, string[]>();
  for (const id of indexIds) byClass.set(classOf(id), [...(byClass.get(classOf(id)) ?? []), id]);
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  const unmatched: string[] = [];
  for (const q of queryIds) {
    const rel = byClass.get(classOf(q));
    if (!rel) {
      unmatched.push(q);
      continue;
    }
    solution.relevant.set(q, rel);
    solution.domain.set(q, groupOf(classOf(q)));
  }
  if (solution.relevant.size === 0) throw new Error(`no query class folder has a match among the index's ${byClass.size} class folders (same folder names mean the same class)`);
  return { solution, unmatched };
}
