import { AppError, PayloadTooLargeError, ValidationError, renderError } from '@csda/errors';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/**
 * One mapping from anything a route throws to the REST envelope: schema
 * validation, malformed JSON, oversized bodies, AppErrors, Connect errors
 * from backends, and the rest as INTERNAL_ERROR (internals shown only
 * outside production). Unknown routes get NOT_FOUND in the same envelope.
 */
export function installErrorHandling(app: FastifyInstance, exposeInternals: boolean): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const mapped = toAppError(err) ?? err;
    const rendered = renderError(mapped, request.id, exposeInternals);
    if (rendered.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: rendered.body.error.code }, 'request rejected');
    const { code, details } = rendered.body.error;
    if (code === 'RATE_LIMITED' && typeof details.retry_after_s === 'string') void reply.header('retry-after', details.retry_after_s);
    if (code === 'AUTHENTICATION_ERROR') void reply.header('www-authenticate', 'Bearer realm="csda"');
    return reply.status(rendered.status).send(rendered.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const rendered = renderError(new AppError('NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`, { details: { resource: 'route' } }), request.id, exposeInternals);
    return reply.status(404).send(rendered.body);
  });
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
      return undefined;
  }
}
