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
