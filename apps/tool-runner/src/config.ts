import { parseAllowList } from '@csda/net';
import { baseConfigShape, portVar, urlVar } from '@csda/service-kit';
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const MIB = 1024 * 1024;

/** TOOLS_HTTP_ALLOW in parseAllowList syntax ("" = public destinations only), checked at start. */
const allowList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    try {
      parseAllowList(value);
      return value;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid allow list' });
      return z.NEVER;
    }
  });

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50052),
  OPS_PORT: portVar(9092),
  /** The vault's Connect endpoint: granted secrets are revealed there, acting for the tool's owner. */
  VAULT_URL: urlVar(['http', 'https'], 'http://127.0.0.1:50051'),
  /** `bwrap` (default): python and shell tools run under bubblewrap, refused if it is unavailable. `none`: development only, no isolation. */
  TOOLS_SANDBOX: z.enum(['bwrap', 'none']).default('bwrap'),
  /** Operator maximum of a tool's timeout_s. */
  TOOLS_MAX_TIMEOUT_S: int(1, 86_400, 900),
  /** Operator maximum of a tool's max_output_bytes. */
  TOOLS_MAX_OUTPUT_BYTES: int(1_024, 1_024 * MIB, 16 * MIB),
  /** Executions one replica runs at once. */
  TOOLS_MAX_CONCURRENCY: int(1, 256, 4),
  /** Executions queued or running per user at once; one more is RATE_LIMITED. */
  TOOLS_USER_MAX_RUNNING: int(1, 10_000, 10),
  /** Longest an ExecuteTool with wait holds the call before answering with the execution still in progress. */
  TOOLS_WAIT_MAX_S: int(1, 600, 30),
  /**
   * Finished and cancelled executions are signalled between replicas through PostgreSQL LISTEN/NOTIFY;
   * while those signals arrive, waiting calls and the cancel watch re-read the database only this often
   * (without them, every 20–500 ms).
   */
  TOOLS_SIGNAL_FALLBACK_MS: int(100, 600_000, 2_000),
  /** A running execution whose replica has not renewed its lease for this long is failed with RUNNER_LOST. */
  TOOLS_LEASE_S: int(3, 3_600, 30),
  /** An execution still queued after this long (its job was lost or dead-lettered) is failed QUEUE_EXPIRED. */
  TOOLS_QUEUE_MAX_S: int(10, 7 * 86_400, 3_600),
  /** Address space of one sandboxed run. */
  TOOLS_SANDBOX_MEMORY_MB: int(64, 65_536, 1_024),
  /** Processes of one sandboxed run (a fork bomb stops here). */
  TOOLS_SANDBOX_MAX_PROCESSES: int(1, 4_096, 64),
  /** Operator allow list for api_call destinations that are not public (parseAllowList syntax); a tool's allow_hosts must name them too. */
  TOOLS_HTTP_ALLOW: allowList,
  /** Operator allow list for sql_query datasources that are not public addresses (parseAllowList syntax; "" = public only). */
  TOOLS_SQL_ALLOW: allowList,
});

export type Config = z.infer<typeof configSchema>;
