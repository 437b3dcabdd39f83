import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError as LibraryVerificationError } from 'standardwebhooks';

/**
 * Standard Webhooks (https://www.standardwebhooks.com) signing, through the
 * reference `standardwebhooks` package: HMAC-SHA256 over
 * `<id>.<unix seconds>.<payload>`, sent as `v1,<base64>` in
 * `webhook-signature`. Secrets are `whsec_` + base64 of the key bytes.
 */

const SECRET_PREFIX = 'whsec_';
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
/** Printable ASCII without spaces: safe in a header and unambiguous in the signed text. */
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;

export type WebhookHeaders = { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };

/** Why a delivery did not verify. Messages never contain the secret or the signature. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** A new signing secret: `whsec_` + base64 of 32 bytes from the CSPRNG. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** True for `whsec_` + canonical (padded) base64 that decodes to 24..64 bytes. */
export function isWebhookSecret(value: string): boolean {
  if (typeof value !== 'string' || !value.startsWith(SECRET_PREFIX)) return false;
  const encoded = value.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return false;
  const key = Buffer.from(encoded, 'base64');
  return key.toString('base64') === encoded && key.length >= MIN_KEY_BYTES && key.length <= MAX_KEY_BYTES;
}

function webhookFor(secret: string): Webhook {
  // Checked here so a malformed secret fails loudly instead of signing with garbage bytes.
  if (!isWebhookSecret(secret)) throw new TypeError('webhook secret must be "whsec_" + base64 of 24 to 64 bytes');
  return new Webhook(secret);
}

/** The three Standard Webhooks headers for one delivery attempt of message `id`. */
export function signWebhook(secret: string, id: string, timestamp: Date, payload: string): WebhookHeaders {
  if (!MESSAGE_ID.test(id)) throw new TypeError('webhook id must be 1-256 printable ASCII characters without spaces');
  if (Number.isNaN(timestamp.getTime())) throw new TypeError('webhook timestamp must be a valid date');
  const signature = webhookFor(secret).sign(id, timestamp, payload);
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature };
}

/**
 * Throws a WebhookVerificationError unless `payload` carries a valid `v1`
 * signature by `secret` and its timestamp is within five minutes of now.
 * Header names are case-insensitive; several space-separated signatures
 * (key rotation) are accepted if one matches.
 */
export function verifyWebhook(secret: string, headers: Record<string, string>, payload: string): void {
  const webhook = webhookFor(secret);
  // One spelling per name (the last, as the library would pick), judged by us and the library alike.
  const normalized: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) normalized[name.toLowerCase()] = value;
  const timestamp = normalized['webhook-timestamp'];
  // The library's parseInt would read "1700000000abc" as a number.
  if (timestamp !== undefined && !/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not a unix time in seconds');
  try {
    webhook.verify(payload, normalized, { jsonParse: false });
  } catch (err) {
    if (err instanceof LibraryVerificationError) throw new WebhookVerificationError(describe(err.message));
    throw err;
  }
}

function describe(libraryMessage: string): string {
  switch (libraryMessage) {
    case 'Missing required headers':
      return 'webhook-id, webhook-timestamp and webhook-signature are required';
    case 'Message timestamp too old':
      return 'webhook-timestamp is more than five minutes in the past';
    case 'Message timestamp too new':
      return 'webhook-timestamp is more than five minutes in the future';
    case 'No matching signature found':
      return 'no webhook-signature matches the payload';
    default:
      return 'webhook headers are invalid';
  }
}
