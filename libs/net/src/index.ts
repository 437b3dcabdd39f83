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
 *
 * api_call tools (see http-tool.ts, tool-policy.ts, url-template.ts):
 *
 *   const http = createHttpTool({ operatorAllow: parseAllowList(cfg.TOOLS_HTTP_ALLOW) });
 *   checkUrlTemplate(config.url);                                   // at definition: a reason string or undefined
 *   const url = expandUrlTemplate(config.url, input);              // {{param}} percent-encoded; origin fixed
 *   const res = await http.call({ method, url, headers: expandHeaderTemplate(config.headers, input),
 *     body: JSON.stringify(expandJsonTemplate(config.body, input)), toolAllowHosts: config.allow_hosts,
 *     sensitiveHeaders: ['x-api-key'], timeoutMs, maxResponseBytes, signal });
 *   // res: { status, headers, body, truncated, redirects, attempts, url }
 *
 * Sandboxed programs with network access (see egress-proxy.ts): one proxy per execution on a unix socket,
 * the same double allow list for every CONNECT and absolute-form request:
 *
 *   const proxy = createEgressProxy({ operatorAllow, toolAllowHosts: config.allow_hosts ?? [], maxBytes });
 *   await proxy.listen(socketPath);  …run…  await proxy.close();  proxy.events(); // refusals in plain words
 */
export { EgressRefusedError, HttpRequestError, type EgressRefusalReason, type HttpFailureKind } from './errors.ts';
export { parseAllowList, type AllowList } from './allow-list.ts';
export { checkAddress, classifyAddress, type AddressRefusal } from './address-policy.ts';
export { systemResolver, type Dial, type Resolver, type EgressPolicy } from './guarded-connector.ts';
export { resolveChecked, ResolutionError } from './resolve-checked.ts';
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
export { createHttpTool, retryAfterMs, type HttpTool, type HttpToolOptions, type HttpToolRequest, type HttpToolResponse } from './http-tool.ts';
export { checkToolDestination, parseToolAllowHosts, type ToolAllowHosts } from './tool-policy.ts';
export { createEgressProxy, type EgressEvent, type EgressProxy, type EgressProxyOptions, type EgressStats } from './egress-proxy.ts';
export {
  checkUrlTemplate,
  expandUrlTemplate,
  expandJsonTemplate,
  expandHeaderTemplate,
  checkHeader,
  templateParameters,
  TemplateError,
} from './url-template.ts';
export {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  isWebhookSecret,
  WebhookVerificationError,
  type WebhookHeaders,
} from './webhooks.ts';
