import { EmbeddingUnavailableError, type EmbeddingFailureKind } from '../errors.ts';
import { checkTexts, type EmbeddingProvider, type EmbedOptions } from '../provider.ts';
import { parseEmbeddingsResponse } from './response.ts';

export interface OpenAiProviderOptions {
  /** e.g. "https://api.openai.com/v1" or "http://127.0.0.1:11434" (".../v1" is added when missing). */
  readonly baseUrl: string;
  readonly model: string;
  readonly dimensions: number;
  /** Send `dimensions` in the request (text-embedding-3-* shorten vectors with it; some servers refuse the field). */
  readonly sendDimensions: boolean;
  readonly maxInputTokens: number;
  /** Inputs per request. */
  readonly batchSize: number;
  /** Requests in flight per `embed` call. */
  readonly concurrency: number;
  /** Deadline of one request (connect, answer and body). */
  readonly timeoutMs: number;
  /** Extra attempts after a 429, a 5xx, a timeout or a connection error. */
  readonly retries: number;
  readonly apiKey?: string;
  /** Reads the key when it lives in the vault: called with `apiKeySecretId`, cached 5 minutes, re-read once on a 401. */
  readonly resolveApiKey?: () => Promise<string>;
  /** A `Retry-After` longer than this fails the call instead of waiting. Default 30 s. */
  readonly maxRetryAfterMs?: number;
  /** First back-off delay, doubled per attempt up to 8 s, with jitter. Default 250 ms. */
  readonly backoffBaseMs?: number;
}

const KEY_TTL_MS = 5 * 60_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const MAX_BACKOFF_MS = 8_000;

interface Failure {
  kind: EmbeddingFailureKind;
  message: string;
  retryAfterMs?: number;
}

/** The `/v1/embeddings` URL of a base URL, with or without its "/v1". */
export function embeddingsUrl(baseUrl: string): URL {
  const url = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = `${/\/v1$/.test(path) ? path : `${path}/v1`}/embeddings`;
  return url;
}

/**
 * Any OpenAI-compatible embeddings server (OpenAI, Azure OpenAI's v1 API,
 * Ollama, text-embeddings-inference, vLLM): batches, retries with back-off
 * (honouring `Retry-After`), per-request timeouts. No error message holds the key.
 */
export function createOpenAiProvider(options: OpenAiProviderOptions): EmbeddingProvider {
  const url = embeddingsUrl(options.baseUrl);
  const closing = new AbortController();
  let cachedKey: { value: string; at: number } | undefined;

  const key = async (): Promise<string | undefined> => {
    if (options.apiKey !== undefined) return options.apiKey;
    if (!options.resolveApiKey) return undefined;
    if (cachedKey && Date.now() - cachedKey.at < KEY_TTL_MS) return cachedKey.value;
    try {
      cachedKey = { value: await options.resolveApiKey(), at: Date.now() };
      return cachedKey.value;
    } catch (err) {
      throw new EmbeddingUnavailableError('credentials', 'the embedding API key could not be read from the vault', { cause: err });
    }
  };

  const scrub = (text: string, secret: string | undefined) => {
    let out = text.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
    if (secret) out = out.split(secret).join('[redacted]');
    return out.slice(0, 300);
  };

  async function request(inputs: readonly string[], signal: AbortSignal): Promise<Float32Array[]> {
    const body = JSON.stringify({
      model: options.model,
      input: inputs.map((text) => (text.length === 0 ? ' ' : text)),
      encoding_format: 'float',
      ...(options.sendDimensions ? { dimensions: options.dimensions } : {}),
    });
    let refreshedKey = false;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw signal.reason;
      const secret = await key();
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let failure: Failure;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
          body,
          signal: AbortSignal.any([signal, timeout]),
        });
        if (res.ok) {
          const text = await readBody(res, MAX_RESPONSE_BYTES);
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            throw new EmbeddingUnavailableError('protocol', 'embedding server sent a malformed answer: the body is not JSON');
          }
          return parseEmbeddingsResponse(json, inputs.length, options.dimensions, options.model);
        }
        const detail = scrub(errorDetail(await readBody(res, 16_384).catch(() => '')), secret);
        const message = `embedding server answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
        if (res.status === 401 && options.resolveApiKey && options.apiKey === undefined && !refreshedKey) {
          refreshedKey = true; // the vault secret may have been rotated: read it again, once
          cachedKey = undefined;
          failure = { kind: 'http', message, retryAfterMs: 0 };
        } else if (!retryable(res.status)) {
          throw new EmbeddingUnavailableError('http', message);
        } else {
          failure = { kind: 'http', message, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
        }
      } catch (err) {
        if (err instanceof EmbeddingUnavailableError) throw err;
        if (signal.aborted) throw signal.reason;
        failure = timeout.aborted
          ? { kind: 'timeout', message: `embedding server ${url.origin} did not answer within ${options.timeoutMs} ms` }
          : { kind: 'connection', message: `embedding server ${url.origin} could not be reached (${connectionCode(err)})` };
      }
      if (attempt >= options.retries) {
        throw new EmbeddingUnavailableError(failure.kind, `${failure.message} (${attempt + 1} attempt${attempt === 0 ? '' : 's'})`);
      }
      const maxWait = options.maxRetryAfterMs ?? 30_000;
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > maxWait) {
        throw new EmbeddingUnavailableError(failure.kind, `${failure.message}; it asked to retry after ${Math.ceil(failure.retryAfterMs / 1000)} s`);
      }
      const backoff = Math.min((options.backoffBaseMs ?? 250) * 2 ** attempt, MAX_BACKOFF_MS);
      await sleep(failure.retryAfterMs ?? backoff / 2 + (Math.random() * backoff) / 2, signal);
    }
  }

  return {
    model: `openai:${options.model}@${options.dimensions}`,
    dimensions: options.dimensions,
    maxInputTokens: options.maxInputTokens,
    ready: async () => {
      if (closing.signal.aborted) throw new EmbeddingUnavailableError('unavailable', 'embedding provider is closed');
    },
    close: async () => closing.abort(new EmbeddingUnavailableError('unavailable', 'embedding provider is closed')),
    async embed(texts: readonly string[], embedOptions: EmbedOptions = {}): Promise<Float32Array[]> {
      checkTexts(texts);
      if (closing.signal.aborted) throw closing.signal.reason;
      if (texts.length === 0) return [];
      const call = new AbortController();
      const signal = AbortSignal.any([closing.signal, call.signal, ...(embedOptions.signal ? [embedOptions.signal] : [])]);
      const batches: (readonly string[])[] = [];
      for (let at = 0; at < texts.length; at += options.batchSize) batches.push(texts.slice(at, at + options.batchSize));
      const results: Float32Array[][] = new Array(batches.length);
      let next = 0;
      const lane = async () => {
        while (next < batches.length) {
          const i = next++;
          results[i] = await request(batches[i]!, signal);
        }
      };
      try {
        await Promise.all(
          Array.from({ length: Math.min(options.concurrency, batches.length) }, () =>
            lane().catch((err: unknown) => {
              call.abort(err);
              throw err;
            }),
          ),
        );
      } catch (err) {
        if (embedOptions.signal?.aborted) throw embedOptions.signal.reason;
        throw err;
      }
      return results.flat();
    },
  };
}

function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** `Retry-After` in ms (seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The `error.message` of an OpenAI-style error body, or the start of the body. */
function errorDetail(text: string): string {
  try {
    const json = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof json.error === 'string' ? json.error : (json.error?.message ?? json.message);
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: fall through
  }
  return text.replace(/\s+/g, ' ').trim();
}

function connectionCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : 'unknown error';
}

async function readBody(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > limit) {
      await res.body.cancel().catch(() => undefined);
      throw new EmbeddingUnavailableError('protocol', `embedding server's answer is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
