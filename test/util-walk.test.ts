import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listFilesSorted } from '../lib/util/walk';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-walk-'));
  for (const rel of ['b.jpg', 'B.jpg', 'a/z.jpg', 'a-b/c.jpg', 'a/Y/q.png', 'Ä.jpg', 'z.jpg', '.hidden.jpg', '.git/x.jpg', 'a/.DS_Store']) {
    fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
    fs.writeFileSync(path.join(tmp, rel), rel);
  }
  fs.symlinkSync(path.join(tmp, 'z.jpg'), path.join(tmp, 'link.jpg'));
  fs.symlinkSync(path.join(tmp, 'a'), path.join(tmp, 'linked-folder'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('listFilesSorted: code-point order of the whole relative path (upper case first, "a-b/" before "a/", non-ASCII last), hidden entries and linked folders left out', () => {
  expect(listFilesSorted(tmp)).toEqual(['B.jpg', 'a-b/c.jpg', 'a/Y/q.png', 'a/z.jpg', 'b.jpg', 'link.jpg', 'z.jpg', 'Ä.jpg']);
});
