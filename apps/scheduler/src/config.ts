import { baseConfigShape, portVar, urlVar } from '@csda/service-kit';
import { z } from 'zod';
import { alertConfigShape } from './alerts/alert-config.ts';

const serviceUrl = (port: number) => urlVar(['http', 'https'], `http://127.0.0.1:${port}`);
const seconds = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** `true` / `false` (also 1/0, yes/no, on/off), case-insensitive. */
const flag = (fallback: boolean) =>
  z
    .string()
    .default(String(fallback))
    .transform((value, ctx) => {
      const v = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: 'expected true or false' });
      return z.NEVER;
    });

/** "14,3,1": days before expiry, each 1..3650, unique; sorted from the farthest. */
const thresholdDays = z
  .string()
  .default('14,3,1')
  .transform((value, ctx) => {
    const parts = value.split(',').map((p) => p.trim());
    const days = parts.map(Number);
    if (parts.some((p) => p === '') || days.some((d) => !Number.isInteger(d) || d < 1 || d > 3650)) {
      ctx.addIssue({ code: 'custom', message: 'expected comma-separated whole days between 1 and 3650, e.g. "14,3,1"' });
      return z.NEVER;
    }
    if (new Set(days).size !== days.length) {
      ctx.addIssue({ code: 'custom', message: 'each threshold once' });
      return z.NEVER;
    }
    return Object.freeze([...days].sort((a, b) => b - a));
  });

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50055),
  OPS_PORT: portVar(9095),
  /** The vault's Connect endpoint (due rotations, expiry). */
  VAULT_URL: serviceUrl(50051),
  /** The gateway's internal Connect port (its RPC_PORT), for GetUsers / PurgeSessions. */
  GATEWAY_URL: serviceUrl(50050),
  /** The tool-runner's Connect endpoint (run_tool schedules). */
  TOOL_RUNNER_URL: serviceUrl(50052),
  /** document-ingest's Connect endpoint (reindex_document schedules). */
  DOCUMENT_INGEST_URL: serviceUrl(50053),
  /** Run the background loops (due-rotation scan, cleanup) in `serve`; off leaves them to the CronJobs. */
  SCHEDULER_LOOPS: flag(true),
  /** How often `serve` looks for due rotations. */
  SCHEDULER_SCAN_INTERVAL_S: seconds(1, 86_400, 60),
  /** How often `serve` runs cleanup-expired. */
  SCHEDULER_CLEANUP_INTERVAL_S: seconds(10, 7 * 86_400, 3_600),
  /** Expiry warnings, days before expires_at. */
  SCHEDULER_EXPIRY_WARN_DAYS: thresholdDays,
  /** Due rotations fetched per ListDueRotations page. */
  SCHEDULER_SCAN_PAGE_SIZE: z.coerce.number().int().min(1).max(1_000).default(500),
  /** Job publishes awaiting their JetStream ack at once. */
  SCHEDULER_PUBLISH_CONCURRENCY: z.coerce.number().int().min(1).max(4_096).default(256),
  /** How often `serve` looks for due user schedules. */
  SCHEDULER_SCHEDULES_INTERVAL_S: seconds(1, 3_600, 5),
  ...alertConfigShape,
});

export type Config = z.infer<typeof configSchema>;
