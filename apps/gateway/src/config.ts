import { baseConfigShape, portVar, urlVar } from '@csda/service-kit';
import { z } from 'zod';

const serviceUrl = (port: number) => urlVar(['http', 'https'], `http://127.0.0.1:${port}`);

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50050),
  GATEWAY_PORT: portVar(8080),
  REDIS_URL: urlVar(['redis', 'rediss'], 'redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().max(64).default('csda:'),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1_024).max(512 * 1024 * 1024).default(1_048_576),
  VAULT_URL: serviceUrl(50051),
  TOOL_RUNNER_URL: serviceUrl(50052),
  DOCUMENT_INGEST_URL: serviceUrl(50053),
  SEARCH_URL: serviceUrl(50054),
  SCHEDULER_URL: serviceUrl(50055),
  AUDIT_ACK_WAIT_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),
});

export type Config = z.infer<typeof configSchema>;
