import { ERROR_CODES } from '@csda/errors';
import { z } from 'zod';

/** The REST error envelope, as documented in OpenAPI for every error response. */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
      request_id: z.string(),
    }),
  })
  .meta({ id: 'ErrorEnvelope' });

/** Error responses every route may produce. */
export const commonErrorResponses = {
  422: errorEnvelopeSchema,
  500: errorEnvelopeSchema,
  503: errorEnvelopeSchema,
} as const;

/** OpenAPI security requirement of routes that take a bearer access token. */
export const bearerAuth = [{ bearerAuth: [] }];

/** Error responses of routes behind authentication and a permission. */
export const protectedErrorResponses = {
  401: errorEnvelopeSchema,
  403: errorEnvelopeSchema,
  ...commonErrorResponses,
} as const;

/** `:id` path parameter of every resource. */
export const idParams = z.object({ id: z.uuid() });

/** `?limit&offset` of every list: limit 1-200 (default 50). */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

/** `{items, total, limit, offset}` of `item`. */
export const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }).meta({ id });
