import { z } from 'zod';
import { EmbeddingConfigError } from './errors.ts';
import { createLocalProvider, LOCAL_MAX_BATCH } from './local/local-provider.ts';
import { LOCAL_DIMENSIONS } from './local/model-files.ts';
import { createOpenAiProvider } from './openai/openai-provider.ts';
import type { EmbeddingProvider } from './provider.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.stringbool()]);

/**
 * The EMBEDDING_* variables (README "Configuration"). A service spreads this
 * shape into its own config schema and adds `.superRefine(checkEmbeddingConfig)`,
 * so bad values stop it at start with the variable named.
 */
export const embeddingConfigShape = {
  EMBEDDING_PROVIDER: z.enum(['local', 'openai']).default('local'),
  /** local: worker threads, each with its own model copy. */
  EMBEDDING_THREADS: int(1, 16).default(1),
  /** Inputs per batch: local worker batch (≤ 32, default 16), openai request (default 64). */
  EMBEDDING_BATCH: int(1, 2048).optional(),
  /** local: texts that may wait for a worker before calls fail as overloaded. */
  EMBEDDING_QUEUE_MAX: int(1, 1_000_000).default(10_000),
  /** local: one worker batch; openai: one request. Default 60 s local, 30 s openai. */
  EMBEDDING_TIMEOUT_MS: int(100, 3_600_000).optional(),
  /** openai: required; local: optional, must be 512. */
  EMBEDDING_DIMENSIONS: int(1, 16_000).optional(),
  EMBEDDING_OPENAI_BASE_URL: z
    .string()
    .refine((value) => /^https?:$/.test(safeUrl(value)?.protocol ?? ''), { message: 'expected an http or https URL' })
    .refine((value) => !safeUrl(value)?.username && !safeUrl(value)?.password, { message: 'must not hold credentials (use EMBEDDING_OPENAI_API_KEY)' })
    .optional(),
  EMBEDDING_OPENAI_MODEL: z.string().min(1).max(200).optional(),
  EMBEDDING_OPENAI_API_KEY: z.string().min(1).optional(),
  /** A vault secret holding the key; the service passes `resolveApiKey` to read it. */
  EMBEDDING_OPENAI_API_KEY_SECRET_ID: z.string().min(1).max(200).optional(),
  /** Send `dimensions` in requests (default true; false for servers that refuse the field). */
  EMBEDDING_OPENAI_SEND_DIMENSIONS: bool.default(true),
  EMBEDDING_OPENAI_MAX_INPUT_TOKENS: int(1, 1_000_000).default(8191),
  /** openai: requests in flight per embed call. */
  EMBEDDING_OPENAI_CONCURRENCY: int(1, 64).default(2),
  /** openai: extra attempts after 429, 5xx, timeouts and connection errors. */
  EMBEDDING_RETRIES: int(0, 10).default(3),
};

/** Cross-field rules of the EMBEDDING_* variables, each issue on the variable to fix. */
export function checkEmbeddingConfig(config: Partial<EmbeddingConfig>, ctx: z.RefinementCtx): void {
  const issue = (path: keyof EmbeddingConfig, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (config.EMBEDDING_PROVIDER === 'openai') {
    if (config.EMBEDDING_OPENAI_BASE_URL === undefined) issue('EMBEDDING_OPENAI_BASE_URL', 'required when EMBEDDING_PROVIDER=openai');
    if (config.EMBEDDING_OPENAI_MODEL === undefined) issue('EMBEDDING_OPENAI_MODEL', 'required when EMBEDDING_PROVIDER=openai');
    if (config.EMBEDDING_DIMENSIONS === undefined) issue('EMBEDDING_DIMENSIONS', "required when EMBEDDING_PROVIDER=openai (the model's vector size)");
    if (config.EMBEDDING_OPENAI_API_KEY !== undefined && config.EMBEDDING_OPENAI_API_KEY_SECRET_ID !== undefined) {
      issue('EMBEDDING_OPENAI_API_KEY_SECRET_ID', 'set either EMBEDDING_OPENAI_API_KEY or EMBEDDING_OPENAI_API_KEY_SECRET_ID, not both');
    }
  } else {
    if (config.EMBEDDING_DIMENSIONS !== undefined && config.EMBEDDING_DIMENSIONS !== LOCAL_DIMENSIONS) {
      issue('EMBEDDING_DIMENSIONS', `the local model makes ${LOCAL_DIMENSIONS}-dimensional vectors (got ${config.EMBEDDING_DIMENSIONS})`);
    }
    if (config.EMBEDDING_BATCH !== undefined && config.EMBEDDING_BATCH > LOCAL_MAX_BATCH) {
      issue('EMBEDDING_BATCH', `at most ${LOCAL_MAX_BATCH} for the local model (its WASM heap grows with the batch and never shrinks)`);
    }
  }
}

const baseSchema = z.object(embeddingConfigShape);
export type EmbeddingConfig = z.infer<typeof baseSchema>;
export const embeddingConfigSchema = baseSchema.superRefine(checkEmbeddingConfig);

/** EMBEDDING_* variables as strings (an environment) or already parsed values. */
export type EmbeddingEnv = Readonly<Record<string, unknown>>;

export interface EmbeddingDeps {
  /** Reads a vault secret's value; required when EMBEDDING_OPENAI_API_KEY_SECRET_ID is set. */
  readonly resolveApiKey?: (secretId: string) => Promise<string>;
}

/** Validates the EMBEDDING_* variables of `env`; throws `EmbeddingConfigError` naming every bad one. */
export function parseEmbeddingConfig(env: EmbeddingEnv): EmbeddingConfig {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(embeddingConfigShape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = embeddingConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new EmbeddingConfigError(
    parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '(root)');
      // The key's value is never echoed: EMBEDDING_OPENAI_API_KEY is a secret.
      return `${key}: ${issue.message}`;
    }),
  );
}

/**
 * The provider the EMBEDDING_* variables describe (default: the local model).
 * Throws `EmbeddingConfigError` on bad settings; the local model starts
 * loading at once (`ready()` resolves when it has).
 */
export function createEmbeddingProvider(env: EmbeddingEnv, deps: EmbeddingDeps = {}): EmbeddingProvider {
  const config = parseEmbeddingConfig(env);
  if (config.EMBEDDING_PROVIDER === 'local') {
    return createLocalProvider({
      threads: config.EMBEDDING_THREADS,
      batchSize: config.EMBEDDING_BATCH ?? 16,
      queueMax: config.EMBEDDING_QUEUE_MAX,
      batchTimeoutMs: config.EMBEDDING_TIMEOUT_MS ?? 60_000,
    });
  }
  const secretId = config.EMBEDDING_OPENAI_API_KEY_SECRET_ID;
  const { resolveApiKey } = deps;
  if (secretId !== undefined && !resolveApiKey) {
    throw new EmbeddingConfigError(['EMBEDDING_OPENAI_API_KEY_SECRET_ID: set, but this service was given no way to read vault secrets (resolveApiKey)']);
  }
  return createOpenAiProvider({
    baseUrl: config.EMBEDDING_OPENAI_BASE_URL!,
    model: config.EMBEDDING_OPENAI_MODEL!,
    dimensions: config.EMBEDDING_DIMENSIONS!,
    sendDimensions: config.EMBEDDING_OPENAI_SEND_DIMENSIONS,
    maxInputTokens: config.EMBEDDING_OPENAI_MAX_INPUT_TOKENS,
    batchSize: config.EMBEDDING_BATCH ?? 64,
    concurrency: config.EMBEDDING_OPENAI_CONCURRENCY,
    timeoutMs: config.EMBEDDING_TIMEOUT_MS ?? 30_000,
    retries: config.EMBEDDING_RETRIES,
    ...(config.EMBEDDING_OPENAI_API_KEY !== undefined ? { apiKey: config.EMBEDDING_OPENAI_API_KEY } : {}),
    ...(secretId !== undefined && resolveApiKey ? { resolveApiKey: () => resolveApiKey(secretId) } : {}),
  });
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
