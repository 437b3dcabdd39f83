import { AppError, PayloadTooLargeError, ValidationError, renderError } from '@csda/errors';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/**
 * One mapping from anything a route throws to the REST envelope: schema
 * validation, malformed JSON, oversized bodies, AppErrors, Connect errors
 * from backends, and the rest as INTERNAL_ERROR (internals shown only
 * outside production). Unknown routes get NOT_FOUND in the same envelope.
 */
export function installErrorHandling(app: FastifyInstance, exposeInternals: boolean): void {
  // PostgreSQL text cannot hold U+0000: refuse it at the edge, before any handler stores or audits it.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['body', request.body], ['query', request.query], ['params', request.params]] as const) {
      const where = findNul(value, part);
      if (where) throw new ValidationError('Text must not contain NUL characters', { [where]: 'contains U+0000' });
    }
  });
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply, exposeInternals));
  app.setNotFoundHandler((request, reply) => {
    const rendered = renderError(new AppError('NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`, { details: { resource: 'route' } }), request.id, exposeInternals);
    return reply.status(404).send(rendered.body);
  });
}

/** Renders any error as the envelope (also used for Fastify's framework errors, e.g. a bad URL). */
export function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply, exposeInternals: boolean) {
  const mapped = toAppError(err) ?? err;
  const rendered = renderError(mapped, request.id, exposeInternals);
  if (rendered.status >= 500) request.log.error({ err }, 'request failed');
  else request.log.info({ code: rendered.body.error.code }, 'request rejected');
  const { code, details } = rendered.body.error;
  if (code === 'RATE_LIMITED' && typeof details.retry_after_s === 'string') void reply.header('retry-after', details.retry_after_s);
  if (code === 'AUTHENTICATION_ERROR') void reply.header('www-authenticate', 'Bearer realm="csda"');
  return reply.status(rendered.status).send(rendered.body);
}

function findNul(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) return value.map((v, i) => findNul(v, `${path}.${i}`)).find(Boolean);
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const hit = findNul(k, path) ?? findNul(v, `${path}.${k}`);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** Fastify's own 4xx errors we have no specific mapping for, by status. */
function byStatus(err: FastifyError): AppError | undefined {
  const status = err.statusCode ?? 500;
  if (status >= 500 || status < 400) return undefined;
  const reason = { reason: err.code ?? 'bad_request' };
  switch (status) {
    case 401:
      return new AppError('AUTHENTICATION_ERROR', 'Authentication required');
    case 403:
      return new AppError('AUTHORIZATION_ERROR', 'Not allowed');
    case 404:
      return new AppError('NOT_FOUND', 'Not found', { details: reason });
    case 413:
      return new PayloadTooLargeError();
    case 429:
      return new AppError('RATE_LIMITED', 'Too many requests', { details: reason });
    default:
      return new ValidationError('Bad request', reason);
  }
}

function toAppError(err: FastifyError): AppError | undefined {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const fields: Record<string, string> = {};
    for (const issue of err.validation) {
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.') || err.validationContext || 'body';
      fields[path] = issue.message ?? 'invalid';
    }
    return new ValidationError('Request validation failed', fields);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationError('Request body is not valid JSON', { body: err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'empty' : 'malformed' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ValidationError('Unsupported content type', { content_type: 'expected application/json' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError();
    default:
      if (err instanceof SyntaxError && err.statusCode === 400) return new ValidationError('Request body is not valid JSON', { body: 'malformed' });
      return err instanceof AppError ? undefined : byStatus(err);
  }
}
