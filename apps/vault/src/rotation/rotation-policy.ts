import { ValidationError } from '@csda/errors';
import type { RotationPolicy, RotationStrategy } from '../secrets/secret.types.ts';

/** Characters a `random` policy may draw from. */
export const CHARSETS = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  // No quotes, backslash, backtick or space: values survive shells, URLs-in-config and YAML unquoted.
  alphanumeric_symbols: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~',
  hex: '0123456789abcdef',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
} as const;
export type Charset = keyof typeof CHARSETS;

export interface RandomPolicy {
  /** Random characters after the prefix. */
  readonly length: number;
  readonly charset: Charset;
  readonly prefix: string;
}
export interface PostgresPolicy {
  readonly rotator_secret_id?: string;
  readonly password_length: number;
}
export interface WebhookPolicy {
  readonly url: string;
  readonly mode: 'push' | 'pull';
  readonly signing_secret_id: string;
  readonly timeout_ms: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PRINTABLE = /^[\x20-\x7e]*$/;
const field = (key: string) => `rotation.policy.${key}`;

type Problems = Record<string, string>;

/** Reads the policy fields one strategy knows; every other key, and every bad value, is a problem named by its field. */
class PolicyReader {
  readonly problems: Problems = {};
  private readonly input: Readonly<Record<string, unknown>>;

  constructor(input: Readonly<Record<string, unknown>>, known: readonly string[]) {
    this.input = input;
    for (const key of Object.keys(input)) if (!known.includes(key)) this.problems[field(key)] = known.length ? `unknown key (known: ${known.join(', ')})` : 'unknown key (this strategy takes no policy)';
  }

  int(key: string, min: number, max: number, fallback: number): number {
    const v = this.input[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.problems[field(key)] = `an integer from ${min} to ${max}`;
    return typeof v === 'number' ? v : fallback;
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback: T | undefined): T | undefined {
    const v = this.input[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.problems[field(key)] = `required: ${values.join(' | ')}`;
      return fallback;
    }
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.problems[field(key)] = values.join(' | ');
    return v as T;
  }

  text(key: string, required: boolean, check: (v: string) => string | undefined): string | undefined {
    const v = this.input[key];
    if (v === undefined || v === null || v === '') {
      if (required) this.problems[field(key)] = 'required';
      return undefined;
    }
    const problem = typeof v !== 'string' ? 'a string' : check(v);
    if (problem) this.problems[field(key)] = problem;
    return typeof v === 'string' ? v : undefined;
  }

  done<T>(policy: T): T {
    if (Object.keys(this.problems).length > 0) throw new ValidationError('Invalid rotation policy', this.problems);
    return policy;
  }
}

const uuidProblem = (v: string) => (UUID.test(v) ? undefined : 'a secret id (UUID)');

/** Syntax only; the address is checked by the SSRF guard when the vault calls it. */
export function webhookUrlProblem(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'an absolute https:// URL';
  }
  if (url.protocol !== 'https:') return 'an https:// URL';
  if (url.username || url.password) return 'no credentials in the URL (requests are signed with signing_secret_id)';
  if (url.hash) return 'no #fragment';
  if (v.length > 2_048) return 'at most 2048 characters';
  return undefined;
}

/**
 * Validates and normalises a strategy's policy (defaults filled in). Throws
 * a ValidationError whose details name each bad field, e.g.
 * `rotation.policy.length`.
 */
export function checkPolicy(strategy: RotationStrategy, input: Readonly<Record<string, unknown>> | undefined): RotationPolicy {
  const raw = input ?? {};
  switch (strategy) {
    case 'manual':
      return new PolicyReader(raw, []).done({});
    case 'random': {
      const r = new PolicyReader(raw, ['length', 'charset', 'prefix']);
      const policy: RandomPolicy = {
        length: r.int('length', 16, 256, 32),
        charset: r.oneOf('charset', Object.keys(CHARSETS) as Charset[], 'alphanumeric')!,
        prefix: r.text('prefix', false, (v) => (v.length > 32 || !PRINTABLE.test(v) ? 'at most 32 printable ASCII characters' : undefined)) ?? '',
      };
      return r.done(policy.prefix ? { ...policy } : { length: policy.length, charset: policy.charset });
    }
    case 'postgres': {
      const r = new PolicyReader(raw, ['rotator_secret_id', 'password_length']);
      const rotator = r.text('rotator_secret_id', false, uuidProblem);
      const policy = { password_length: r.int('password_length', 16, 128, 32), ...(rotator ? { rotator_secret_id: rotator.toLowerCase() } : {}) };
      return r.done(policy);
    }
    case 'webhook': {
      const r = new PolicyReader(raw, ['url', 'mode', 'signing_secret_id', 'timeout_ms']);
      const policy = {
        url: r.text('url', true, webhookUrlProblem) ?? '',
        mode: r.oneOf('mode', ['push', 'pull'] as const, 'push')!,
        signing_secret_id: (r.text('signing_secret_id', true, uuidProblem) ?? '').toLowerCase(),
        timeout_ms: r.int('timeout_ms', 1_000, 30_000, 10_000),
      };
      return r.done(policy);
    }
  }
}

/** Typed views of a stored (already validated) policy. */
export const randomPolicy = (p: RotationPolicy): RandomPolicy => ({ length: Number(p.length ?? 32), charset: (p.charset ?? 'alphanumeric') as Charset, prefix: String(p.prefix ?? '') });
export const postgresPolicy = (p: RotationPolicy): PostgresPolicy => ({
  password_length: Number(p.password_length ?? 32),
  ...(p.rotator_secret_id ? { rotator_secret_id: String(p.rotator_secret_id) } : {}),
});
export const webhookPolicy = (p: RotationPolicy): WebhookPolicy => ({
  url: String(p.url ?? ''),
  mode: p.mode === 'pull' ? 'pull' : 'push',
  signing_secret_id: String(p.signing_secret_id ?? ''),
  timeout_ms: Number(p.timeout_ms ?? 10_000),
});
