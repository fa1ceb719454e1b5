import { Command } from 'commander';
import { intFlag } from '../lib/util/int-flag';

test('intFlag reads whole decimal integers and refuses the rest, naming the flag', () => {
  const port = intFlag('--port');
  expect(port('8080')).toBe(8080);
  expect(port('0')).toBe(0);
  expect(() => port('3x')).toThrow('--port must be a non-negative integer, got "3x"');
  expect(() => port('-1')).toThrow('--port must be a non-negative integer, got "-1"');
  for (const bad of ['', ' 3', '1e3', '0x10', '2.5', 'NaN']) expect(() => port(bad)).toThrow(/--port must be/);
  expect(() => intFlag('--batch', 1)('0')).toThrow('--batch must be a positive integer, got "0"');
  expect(intFlag('--seed', -Infinity)('-7')).toBe(-7);
  expect(() => intFlag('--seed', -Infinity)('seven')).toThrow('--seed must be an integer, got "seven"');
});

test('commander reports a bad value as an invalid argument of that option', () => {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
  program.option('--queue <n>', 'waiting uploads', intFlag('--queue'), 4);
  expect(program.parse(['--queue', '12'], { from: 'user' }).opts()).toEqual({ queue: 12 });
  expect(() => program.parse(['--queue', '12x'], { from: 'user' })).toThrow(/argument '12x' is invalid\. --queue must be a non-negative integer/);
});
