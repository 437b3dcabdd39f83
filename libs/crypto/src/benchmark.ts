import { randomBytes } from 'node:crypto';
import { aadFor, decryptValue, encryptValue } from './envelope.ts';
import { parseKeyring, generateKeyring } from './keyring.ts';

/** Result of {@link benchmarkUnwrapDecrypt}. */
export interface CryptoBenchmarkResult {
  /** Unwrap+decrypt operations per second over the measured iterations. */
  readonly opsPerSec: number;
  /** Median latency of one operation, microseconds. */
  readonly p50us: number;
  /** 99th-percentile latency of one operation, microseconds. */
  readonly p99us: number;
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

/**
 * Raw-crypto baseline for the vault benchmark: times `decryptValue` (AES-256-GCM
 * unwrap of the data key + AES-256-GCM decryption of a 40-byte value) in a tight
 * loop with a throwaway keyring, after a short warm-up.
 * @throws RangeError unless `iterations` is a positive integer.
 */
export function benchmarkUnwrapDecrypt(iterations: number): CryptoBenchmarkResult {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError('iterations must be a positive integer');
  }
  const keyring = parseKeyring(generateKeyring('bench'));
  const aad = aadFor('00000000-0000-4000-8000-000000000000', 1);
  const sealed = encryptValue(keyring, randomBytes(40), aad);
  for (let i = 0; i < Math.min(iterations, 1000); i += 1) {
    decryptValue(keyring, sealed, aad).fill(0);
  }
  const samples = new Array<number>(iterations);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    const t0 = process.hrtime.bigint();
    decryptValue(keyring, sealed, aad).fill(0);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  samples.sort((a, b) => a - b);
  return {
    opsPerSec: totalSeconds > 0 ? iterations / totalSeconds : Number.POSITIVE_INFINITY,
    p50us: percentile(samples, 50),
    p99us: percentile(samples, 99),
  };
}
