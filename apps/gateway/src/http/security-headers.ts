import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import helmet from 'helmet';

/**
 * The one inline style swagger-ui renders: the <style> inside its top-bar logo SVG
 * (`.logo_small_svg__cls-2{fill:#fff}…`). Allowed by hash, so no other inline
 * style is; a swagger-ui upgrade that changes it fails test/docs-csp.int.test.ts.
 */
const SWAGGER_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

/**
 * Security headers of every gateway response (Helmet's set: CSP, HSTS,
 * nosniff, frame and referrer policies, COOP/CORP…). The API answers JSON;
 * the one HTML page is `/docs` (swagger-ui served from our own origin: its
 * scripts and styles are files under /docs/static, the spec comes from
 * /docs/json), so the policy allows our origin only: no inline script, no
 * eval, no third-party host, no framing.
 */
export function securityHeaderOptions(options: { readonly production: boolean }): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'self'"],
        'connect-src': ["'self'"],
        'font-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // swagger-ui draws its icons as data: SVGs in its stylesheet.
        'img-src': ["'self'", 'data:'],
        'object-src': ["'none'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'", SWAGGER_LOGO_STYLE],
        // Behind TLS in production; a development gateway on plain HTTP must still load /docs.
        ...(options.production ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  };
}

/**
 * The same headers for a response Fastify sends before routing (a malformed
 * URL reaches `frameworkErrors` before any onRequest hook, so @fastify/helmet never sees it).
 */
export function rawSecurityHeaders(options: FastifyHelmetOptions): (req: IncomingMessage, res: ServerResponse) => void {
  // Same options, typed by @fastify/helmet's own copy of Helmet's declarations.
  const middleware = helmet(options as Parameters<typeof helmet>[0]);
  return (req, res) =>
    middleware(req, res, (err?: unknown) => {
      if (err) throw err;
    });
}
