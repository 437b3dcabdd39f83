import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { bearerAuth, protectedErrorResponses } from '../http/schemas.ts';
import type { AuthHooks } from '../identity/auth/auth.hooks.ts';
import type { AuditLog } from './audit-log.entity.ts';
import type { AuditFilter, AuditLogRepository } from './audit-log.repository.ts';

export interface AuditRouteDeps {
  readonly hooks: Pick<AuthHooks, 'requirePermission'>;
  /** A repository over a fresh EntityManager fork: called once per request. */
  readonly auditLog: () => Pick<AuditLogRepository, 'search'>;
}

const text = z.string().min(1).max(256).optional();

const querySchema = z
  .object({
    actor: text.describe('User id, `anonymous` or `service:<name>`'),
    action: text.describe('e.g. `login_failed`, `secret_revealed`'),
    resource_type: text,
    resource_id: text,
    since: z.iso.datetime({ offset: true }).optional().describe('Inclusive lower bound of occurred_at (ISO 8601)'),
    until: z.iso.datetime({ offset: true }).optional().describe('Exclusive upper bound of occurred_at (ISO 8601)'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.since) <= Date.parse(q.until), { message: 'since must not be after until', path: ['since'] });

const entrySchema = z
  .object({
    id: z.string(),
    event_id: z.string(),
    service: z.string(),
    action: z.string(),
    actor: z.string(),
    actor_name: z.string().nullable(),
    outcome: z.string().nullable(),
    resource_type: z.string().nullable(),
    resource_id: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    event_type: z.string(),
    occurred_at: z.iso.datetime(),
    recorded_at: z.iso.datetime(),
  })
  .meta({ id: 'AuditEntry' });

const pageSchema = z
  .object({ items: z.array(entrySchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'AuditPage' });

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
// Envelope fields of an AuditEvent, shown as columns; other event types keep their fields in details.
const LIFTED = new Set(['eventId', 'actor', 'actorName', 'action', 'outcome', 'resourceType', 'resourceId', 'ip', 'requestId', 'details', 'occurredAtMs']);

function entryJson(row: AuditLog): z.infer<typeof entrySchema> {
  const payload = row.payload;
  const details: Record<string, unknown> =
    payload.details && typeof payload.details === 'object' ? { ...(payload.details as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(payload)) if (!LIFTED.has(key)) details[snake(key)] = value;
  return {
    id: String(row.id),
    event_id: row.eventId,
    service: row.service,
    action: row.action,
    actor: row.actor,
    actor_name: str(payload.actorName),
    outcome: str(payload.outcome),
    resource_type: row.resourceType ?? null,
    resource_id: row.resourceId ?? null,
    ip: str(payload.ip),
    request_id: str(payload.requestId),
    details,
    event_type: row.eventType,
    occurred_at: row.occurredAt.toISOString(),
    recorded_at: row.recordedAt.toISOString(),
  };
}

/** `GET /api/v1/audit` (`audit:read`): the persisted AUDIT stream, filtered, newest first. */
export function auditRoutes(deps: AuditRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '',
      {
        preHandler: deps.hooks.requirePermission('audit:read'),
        schema: {
          tags: ['audit'],
          summary: 'Audit trail: every security-relevant action of every service',
          security: bearerAuth,
          querystring: querySchema,
          response: { 200: pageSchema, ...protectedErrorResponses },
        },
      },
      async (request) => {
        const q = request.query;
        const filter: AuditFilter = {
          actor: q.actor,
          action: q.action,
          resourceType: q.resource_type,
          resourceId: q.resource_id,
          since: q.since ? new Date(q.since) : undefined,
          until: q.until ? new Date(q.until) : undefined,
        };
        const page = await deps.auditLog().search(filter, { limit: q.limit, offset: q.offset });
        return { items: page.items.map(entryJson), total: page.total, limit: q.limit, offset: q.offset };
      },
    );
  };
}
