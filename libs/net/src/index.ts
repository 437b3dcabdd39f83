export { EgressRefusedError, HttpRequestError, type EgressRefusalReason, type HttpFailureKind } from './errors.ts';
export { parseAllowList, type AllowList } from './allow-list.ts';
export { checkAddress, classifyAddress, type AddressRefusal } from './address-policy.ts';
export { systemResolver, type Resolver } from './guarded-connector.ts';
export {
  createGuardedHttp,
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
