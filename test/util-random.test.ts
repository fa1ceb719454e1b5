import { Rng } from '../lib/util/random';

test('Rng streams keep their values: training checkpoints store this state and determinism tests compare weights bit for bit', () => {
  const r = new Rng(42);
  expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([2837322924, 544945897, 479756282]);
  expect(Array.from(Rng.derive(7, 1000, 3).permutation(8))).toEqual([1, 3, 2, 0, 4, 6, 5, 7]);
  expect(new Rng([1, 2, 3, 4]).float()).toBe(0.000002682209014892578);
});

test('Rng.shuffled is the permutation applied to the items (one shuffle), and leaves its input alone', () => {
  const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
  const perm = new Rng(5).permutation(items.length);
  expect(new Rng(5).shuffled(items)).toEqual(Array.from(perm, (i) => items[i]));
  expect(items).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
  expect(new Rng(5).shuffled([])).toEqual([]);
});

test('Rng.fromKey: the same key gives the same stream, another key another stream', () => {
  expect(Rng.fromKey('7/order/train').float()).toBe(Rng.fromKey('7/order/train').float());
  expect(Rng.fromKey('7/order/train').float()).not.toBe(Rng.fromKey('7/order/valid').float());
});
