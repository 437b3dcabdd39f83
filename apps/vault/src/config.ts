import { parseAllowList } from '@csda/net';
import { baseConfigShape, portVar } from '@csda/service-kit';
import { z } from 'zod';

/** "60,300,900": redelivery delays in seconds, each 1..86400, at most 20. */
const backoffSeconds = z
  .string()
  .default('60,300,900')
  .transform((value, ctx) => {
    const parts = value.split(',').map((p) => p.trim());
    const seconds = parts.map(Number);
    if (parts.length > 20 || parts.some((p) => p === '') || seconds.some((s) => !Number.isInteger(s) || s < 1 || s > 86_400)) {
      ctx.addIssue({ code: 'custom', message: 'expected comma-separated whole seconds between 1 and 86400 (at most 20), e.g. "60,300,900"' });
      return z.NEVER;
    }
    return Object.freeze(seconds);
  });

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50051),
  OPS_PORT: portVar(9091),
  VAULT_KEYRING: z.string().optional(),
  /** Rotation jobs handled at once by this replica. */
  VAULT_ROTATION_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /** Delays between attempts of a failing rotation job; attempts = entries + 1, then dead-lettered. */
  VAULT_ROTATION_BACKOFF_S: backoffSeconds,
  /** How long a delivered job may run before JetStream redelivers it (a crashed worker's job comes back after this). */
  VAULT_ROTATION_ACK_WAIT_S: z.coerce.number().int().min(1).max(3_600).default(120),
  /**
   * Destinations the webhook strategy may reach although they are not public
   * (loopback, private, link-local…): comma-separated hosts, IPs or CIDRs. Empty: public addresses only.
   */
  VAULT_WEBHOOK_ALLOW: z.string().default(''),
  /** Extra CA certificates (PEM file) trusted for webhook endpoints, e.g. an internal CA. */
  VAULT_WEBHOOK_CA_FILE: z.string().optional(),
  /**
   * PostgreSQL servers the postgres strategy may connect to although they are
   * not public (loopback, private, link-local, cloud metadata…): comma-separated
   * IPs or CIDRs (`10.20.0.0/16`, `::1`), host names (`db.internal`) or
   * wildcards (`*.db.internal`), as @csda/net's parseAllowList reads them.
   * Empty (the default): public addresses only. The host of a secret's URL (and
   * of its rotator's) is resolved once, every address checked, and the vault
   * connects to the checked address; a refused one fails the rotation
   * permanently. Ports are not restricted. Allow-listing a name trusts every
   * address it resolves to.
   */
  VAULT_POSTGRES_ALLOW: z
    .string()
    .default('')
    .transform((value, ctx) => {
      try {
        return parseAllowList(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'not a valid allow list' });
        return z.NEVER;
      }
    }),
});

export type Config = z.infer<typeof configSchema>;
