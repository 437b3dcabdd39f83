import { parsePrivateKey, parseVerifyKeys } from '@csda/auth';
import { z } from 'zod';

/** Thrown when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const port = (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback);
const millis = (fallback: number) => z.coerce.number().int().min(0).max(3_600_000).default(fallback);

/** A port variable with a default, for service-specific config shapes. */
export const portVar = port;

/** A URL variable whose scheme must be one of `protocols`. */
export function urlVar(protocols: readonly string[], fallback?: string) {
  const schema = z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a ${protocols.join(' or ')} URL` },
  );
  return fallback === undefined ? schema : schema.default(fallback);
}

/** Environment shared by every CSDA service. */
export const baseConfigShape = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: urlVar(['postgres', 'postgresql'], 'postgres://postgres@127.0.0.1:5432/csda'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  NATS_URL: urlVar(['nats', 'tls'], 'nats://127.0.0.1:4222'),
  NATS_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9_]*$/, 'lowercase letters, digits and _ only')
    .default(''),
  /** This service's NATS user (nats-permissions.ts); with NATS_PASSWORD, or neither for an open server. */
  NATS_USER: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').optional(),
  NATS_PASSWORD: z.string().optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: urlVar(['http', 'https']).optional(),
  STARTUP_TIMEOUT_MS: millis(60_000),
  SHUTDOWN_TIMEOUT_MS: millis(10_000),
  RPC_PORT: port(50051),
  OPS_PORT: port(9090),
  /** Where development-only key material is generated and kept (never used in production). */
  CSDA_DATA_DIR: z.string().min(1).default('.data'),
  /**
   * Trusted internal-token verify keys: JSON `[{"issuer": "<service>", "key": "<SPKI PEM or base64 DER>"}, …]`.
   * Parsed here, so a malformed key stops the process (exit 78) before any connection opens.
   */
  INTERNAL_VERIFY_KEYS: z
    .string()
    .optional()
    .transform((text, ctx) => (text === undefined ? undefined : parseOrIssue(ctx, () => parseVerifyKeys(text)))),
  /** This service's own Ed25519 signing key (PKCS#8 PEM or base64 DER), for services that call others. */
  INTERNAL_SIGNING_KEY: z
    .string()
    .optional()
    .transform((text, ctx) => (text === undefined ? undefined : parseOrIssue(ctx, () => parsePrivateKey(text)))),
};

/** Runs a parser inside a zod transform; its error message becomes the variable's problem. */
function parseOrIssue<T>(ctx: z.RefinementCtx, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid' });
    return z.NEVER;
  }
}

/** Variables that are set together or not at all. */
const PAIRED = [['NATS_USER', 'NATS_PASSWORD']] as const;

/** Variables that must be set explicitly when NODE_ENV=production. */
const REQUIRED_IN_PRODUCTION = ['DATABASE_URL', 'NATS_URL', 'INTERNAL_VERIFY_KEYS'] as const;

export const baseConfigSchema = z.object(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Validates `env` against `schema` and returns a frozen, typed config.
 * Every problem names its variable; nothing is printed here.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env): Readonly<z.infer<S>> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const problems: string[] = [];
  if (env.NODE_ENV === 'production') {
    for (const key of REQUIRED_IN_PRODUCTION) {
      if (key in schema.shape && input[key] === undefined) problems.push(`${key}: required when NODE_ENV=production`);
    }
  }
  for (const [a, b] of PAIRED) {
    if (a in schema.shape && (input[a] === undefined) !== (input[b] === undefined)) problems.push(`${input[a] === undefined ? a : b}: required when ${input[a] === undefined ? b : a} is set`);
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '(root)');
      if (input[key] === undefined) problems.push(`${key}: missing (${issue.message})`);
      else problems.push(issue.message.startsWith(key) ? issue.message : `${key}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return Object.freeze(parsed.data);
}
