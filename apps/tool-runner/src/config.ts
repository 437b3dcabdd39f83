import { baseConfigShape, portVar } from '@csda/service-kit';
import { z } from 'zod';

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50052),
  OPS_PORT: portVar(9092),
});

export type Config = z.infer<typeof configSchema>;
