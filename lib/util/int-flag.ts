import { InvalidArgumentError } from 'commander';

const bound = (min: number): string => (min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : min === -Infinity ? 'an integer' : `an integer >= ${min}`);

/** Commander parser for an integer flag: decimal digits only ('3x', '1e3', '' and '0x10' are refused, not half-read as Number/parseInt would), at least `min`; the message names the flag. */
export function intFlag(flag: string, min = 0): (value: string) => number {
  return (value: string): number => {
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be ${bound(min)}, got "${value}"`);
    return n;
  };
}

/** Commander parser for a duration flag in seconds: a plain decimal ('0.25', '5'), more than 0; the message names the flag. */
export function secondsFlag(flag: string): (value: string) => number {
  return (value: string): number => {
    const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!(n > 0)) throw new InvalidArgumentError(`${flag} must be a number of seconds above 0, got "${value}"`);
    return n;
  };
}
