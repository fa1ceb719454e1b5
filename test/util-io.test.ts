/** I/O errors name their file: Node's write errors do not ("ENOSPC: no space left on device, write"). /dev/full is a real full disk. */
import * as fs from 'fs';
import { writeFileSynced } from '../lib/util/atomic';

const full = fs.existsSync('/dev/full') ? test : test.skip;

full('a write to a full disk names the file, says what to do and keeps the code', () => {
  let err: (Error & { code?: string }) | undefined;
  try {
    writeFileSynced('/dev/full', 'x'.repeat(1 << 16));
  } catch (e) {
    err = e as Error & { code?: string };
  }
  expect(err?.message).toBe('/dev/full: ENOSPC: no space left on device, write (the disk is full: free space, or point paths.outputs / paths.cache at another disk)');
  expect(err?.code).toBe('ENOSPC');
});

test('a file that cannot be opened is named too', () => {
  expect(() => writeFileSynced('/proc/definitely/not/here.json', '{}')).toThrow(/^\/proc\/definitely\/not\/here\.json: ENOENT: no such file or directory, open/);
});
