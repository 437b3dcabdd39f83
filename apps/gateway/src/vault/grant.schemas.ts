import type { SecretGrant } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';

export const REVOKE_REASONS = ['tool_updated', 'tool_deleted', 'owner_revoked', 'secret_deleted'] as const;

export const grantSchema = z
  .object({
    secret_id: z.uuid(),
    tool_id: z.uuid(),
    tool_name: z.string().meta({ description: 'The tool’s name when the grant was last recorded' }),
    as: z.string().meta({ description: 'How the tool receives the secret: env:NAME, header:Name or datasource' }),
    granted_by: z.string().meta({ description: 'The user who granted it (the tool’s owner)' }),
    granted_at: z.iso.datetime({ offset: true }),
    active: z.boolean(),
    revoked_at: z.iso.datetime({ offset: true }).nullable(),
    revoked_by: z.string().nullable(),
    revoke_reason: z.enum(REVOKE_REASONS).nullable().meta({ description: 'tool_updated (the tool no longer uses it), tool_deleted, owner_revoked, or secret_deleted (the secret was deleted)' }),
  })
  .meta({ id: 'SecretGrant', description: 'A grant of a secret to a tool: while active, the tool’s executions may have the vault reveal it. Never carries the value.' });

export const listGrantsQuery = pageQuery.extend({
  include_revoked: z.enum(['true', 'false']).optional().meta({ description: 'Also list revoked grants (default false)' }),
});

export const grantParams = z.object({ id: z.uuid(), tool_id: z.uuid() });

const iso = (ms: bigint) => (ms > 0n ? new Date(Number(ms)).toISOString() : null);
const reason = (r: string) => ((REVOKE_REASONS as readonly string[]).includes(r) ? (r as (typeof REVOKE_REASONS)[number]) : null);

export function grantToJson(g: SecretGrant): z.infer<typeof grantSchema> {
  return {
    secret_id: g.secretId,
    tool_id: g.toolId,
    tool_name: g.toolName,
    as: g.as,
    granted_by: g.grantedBy,
    granted_at: iso(g.grantedAtMs) ?? new Date(0).toISOString(),
    active: g.revokedAtMs === 0n,
    revoked_at: iso(g.revokedAtMs),
    revoked_by: g.revokedBy || null,
    revoke_reason: reason(g.revokeReason),
  };
}
