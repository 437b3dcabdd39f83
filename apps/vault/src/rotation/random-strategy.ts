import { randomInt } from 'node:crypto';
import { CHARSETS, type RandomPolicy } from './rotation-policy.ts';

/**
 * A new value per a `random` policy: the prefix, then `length` characters
 * drawn from the charset by the CSPRNG. `randomInt` rejects out-of-range
 * draws, so every character is equally likely (no modulo bias).
 */
export function generateRandomValue(policy: RandomPolicy): string {
  const alphabet = CHARSETS[policy.charset];
  let out = policy.prefix;
  for (let i = 0; i < policy.length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}
