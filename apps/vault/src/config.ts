import { baseConfigShape, portVar } from '@csda/service-kit';
import { z } from 'zod';

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50051),
  OPS_PORT: portVar(9091),
  VAULT_KEYRING: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;
