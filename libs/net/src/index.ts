/**
 * @csda/net — outbound HTTP to URLs that users configure, and Standard Webhooks.
 *
 *   const allow = parseAllowList(config.EGRESS_ALLOW_LIST);        // "" = only public destinations
 *   const http = createGuardedHttp({ allow });                     // one per process; close() on shutdown
 *   const headers = signWebhook(secret, messageId, new Date(), body);
 *   const res = await http.request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
 *     body, timeoutMs: 10_000, maxResponseBytes: 64 * 1024 });
 *   // res.status 2xx → delivered; 3xx is returned, never followed.
 *   // EgressRefusedError (VALIDATION_ERROR): the destination is refused — permanent.
 *   // HttpRequestError (EXTERNAL_SERVICE_ERROR, kind timeout|connection|too_large|protocol): worth a retry.
 *
 * `checkDestination(url, { allow })` runs the same decision without connecting
 * (validate a URL when it is saved).
 */
export { EgressRefusedError, HttpRequestError, type EgressRefusalReason, type HttpFailureKind } from './errors.ts';
export { parseAllowList, type AllowList } from './allow-list.ts';
export { checkAddress, classifyAddress, type AddressRefusal } from './address-policy.ts';
export { systemResolver, type Resolver, type EgressPolicy } from './guarded-connector.ts';
export {
  createGuardedHttp,
  checkDestination,
  validateTarget,
  isRedirectStatus,
  type GuardedHttp,
  type GuardedHttpOptions,
  type GuardedRequestInit,
  type GuardedResponse,
  type EgressTarget,
} from './guarded-http.ts';
export {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  isWebhookSecret,
  WebhookVerificationError,
  type WebhookHeaders,
} from './webhooks.ts';
