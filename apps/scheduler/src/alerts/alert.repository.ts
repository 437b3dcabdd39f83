import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertInput, AlertKind, AlertRecord, AlertSeverity, WebhookRecord } from './alert.types.ts';

export type { AlertInput } from './alert.types.ts';

/** Who may see an alert: its owner, or everyone (`system:read`). */
export interface AlertVisibility {
  readonly userId: string;
  readonly all: boolean;
}

export interface AlertFilter {
  readonly kind?: AlertKind;
  readonly acknowledged?: boolean;
  readonly limit: number;
  readonly offset: number;
}

export interface NewWebhook {
  readonly url: string;
  readonly kinds: readonly AlertKind[];
  readonly signingSecretId: string;
  readonly description: string;
  readonly createdBy: string;
  readonly createdByName: string;
}

interface AlertRow {
  id: string;
  kind: AlertKind;
  severity: AlertSeverity;
  owner_id: string;
  resource_type: string;
  resource_id: string;
  message: string;
  created_at: Date | string;
  acknowledged_at: Date | string | null;
  acknowledged_by: string | null;
}

interface WebhookRow {
  id: string;
  url: string;
  kinds: AlertKind[];
  signing_secret_id: string;
  description: string;
  created_by: string;
  created_by_name: string;
  created_at: Date | string;
}

// The driver returns timestamps as strings on raw queries.
export const toDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));
const toDateOrNull = (v: Date | string | null): Date | null => (v === null ? null : toDate(v));

export const ALERT_COLUMNS = 'a.id, a.kind, a.severity, a.owner_id, a.resource_type, a.resource_id, a.message, a.created_at, a.acknowledged_at, a.acknowledged_by';
const WEBHOOK_COLUMNS = 'w.id, w.url, w.kinds, w.signing_secret_id, w.description, w.created_by, w.created_by_name, w.created_at';

export const toAlert = (r: AlertRow): AlertRecord => ({
  id: r.id,
  kind: r.kind,
  severity: r.severity,
  ownerId: r.owner_id,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  message: r.message,
  createdAt: toDate(r.created_at),
  acknowledgedAt: toDateOrNull(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
});

const toWebhook = (r: WebhookRow): WebhookRecord => ({
  id: r.id,
  url: r.url,
  kinds: r.kinds,
  signingSecretId: r.signing_secret_id,
  description: r.description,
  createdBy: r.created_by,
  createdByName: r.created_by_name,
  createdAt: toDate(r.created_at),
});

const visible = (v: AlertVisibility) => (v.all ? { sql: 'true', params: [] as unknown[] } : { sql: 'a.owner_id = ?', params: [v.userId] as unknown[] });

/**
 * The only place that touches `scheduler.alerts` and `scheduler.alert_webhooks`
 * (deliveries: alert-delivery.repository.ts). Runs on `em`, inside the
 * caller's transaction when there is one.
 */
export function createAlertRepository(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;

  return {
    /**
     * Raises each alert unless one with its dedupe key exists, and queues a
     * pending delivery to every active webhook that wants its kind — one
     * statement, so the alert and its deliveries commit together. Returns how
     * many alerts are new.
     */
    async raise(inputs: readonly AlertInput[]): Promise<number> {
      // The first of several inputs with one key wins, as it would across calls.
      const byKey = new Map<string, AlertInput>();
      for (const i of inputs) if (!byKey.has(i.dedupeKey)) byKey.set(i.dedupeKey, i);
      const unique = [...byKey.values()];
      if (unique.length === 0) return 0;
      const rows = unique.map((i) => ({
        id: randomUUID(),
        dedupe_key: i.dedupeKey,
        kind: i.kind,
        severity: i.severity,
        owner_id: i.ownerId,
        resource_type: i.resourceType,
        resource_id: i.resourceId,
        message: i.message,
      }));
      const [result] = await run<{ n: number }[]>(
        `with input as (
           select * from jsonb_to_recordset(?::jsonb) as x(id uuid, dedupe_key text, kind text, severity text, owner_id text,
             resource_type text, resource_id text, message text)
         ), raised as (
           insert into scheduler.alerts (id, dedupe_key, kind, severity, owner_id, resource_type, resource_id, message)
           select id, dedupe_key, kind, severity, owner_id, resource_type, resource_id, message from input
           on conflict (dedupe_key) do nothing
           returning id, kind
         ), queued as (
           insert into scheduler.alert_deliveries (id, alert_id, webhook_id)
           select gen_random_uuid(), r.id, w.id
             from raised r join scheduler.alert_webhooks w
               on w.deleted_at is null and (cardinality(w.kinds) = 0 or r.kind = any(w.kinds))
           on conflict (alert_id, webhook_id) do nothing
         )
         select count(*)::int as n from raised`,
        [JSON.stringify(rows)],
      );
      return result?.n ?? 0;
    },

    async list(v: AlertVisibility, filter: AlertFilter): Promise<{ items: AlertRecord[]; total: number }> {
      const where = [visible(v)];
      if (filter.kind) where.push({ sql: 'a.kind = ?', params: [filter.kind] });
      if (filter.acknowledged !== undefined) where.push({ sql: `a.acknowledged_at is ${filter.acknowledged ? 'not ' : ''}null`, params: [] });
      const sql = where.map((w) => w.sql).join(' and ');
      const params = where.flatMap((w) => w.params);
      const items = await run<AlertRow[]>(
        `select ${ALERT_COLUMNS} from scheduler.alerts a where ${sql} order by a.created_at desc, a.id desc limit ? offset ?`,
        [...params, filter.limit, filter.offset],
      );
      const [count] = await run<{ n: string }[]>(`select count(*) as n from scheduler.alerts a where ${sql}`, params);
      return { items: items.map(toAlert), total: Number(count?.n ?? 0) };
    },

    async get(v: AlertVisibility, id: string): Promise<AlertRecord | undefined> {
      const where = visible(v);
      const [row] = await run<AlertRow[]>(`select ${ALERT_COLUMNS} from scheduler.alerts a where a.id = ? and ${where.sql}`, [id, ...where.params]);
      return row ? toAlert(row) : undefined;
    },

    /** Acknowledges a visible alert; the first acknowledgement is kept. Undefined when not visible. */
    async ack(v: AlertVisibility, id: string, by: string): Promise<AlertRecord | undefined> {
      const where = visible(v);
      const [row] = await run<AlertRow[]>(
        `update scheduler.alerts a set acknowledged_at = coalesce(a.acknowledged_at, now()), acknowledged_by = coalesce(a.acknowledged_by, ?)
          where a.id = ? and ${where.sql} returning ${ALERT_COLUMNS}`,
        [by, id, ...where.params],
      );
      return row ? toAlert(row) : undefined;
    },

    async listWebhooks(): Promise<WebhookRecord[]> {
      const rows = await run<WebhookRow[]>(`select ${WEBHOOK_COLUMNS} from scheduler.alert_webhooks w where w.deleted_at is null order by w.created_at, w.id`);
      return rows.map(toWebhook);
    },

    async countWebhooks(): Promise<number> {
      const [row] = await run<{ n: string }[]>('select count(*) as n from scheduler.alert_webhooks where deleted_at is null');
      return Number(row?.n ?? 0);
    },

    async createWebhook(w: NewWebhook): Promise<WebhookRecord> {
      const [row] = await run<WebhookRow[]>(
        `insert into scheduler.alert_webhooks as w (id, url, kinds, signing_secret_id, description, created_by, created_by_name)
         values (?, ?, array(select jsonb_array_elements_text(?::jsonb)), ?, ?, ?, ?) returning ${WEBHOOK_COLUMNS}`,
        [randomUUID(), w.url, JSON.stringify(w.kinds), w.signingSecretId, w.description, w.createdBy, w.createdByName],
      );
      return toWebhook(row!);
    },

    /**
     * Soft-deletes a webhook (its delivery history stays) and gives up its
     * pending deliveries. False when there is no such active webhook.
     */
    async deleteWebhook(id: string): Promise<boolean> {
      const [row] = await run<{ deleted: number }[]>(
        `with gone as (
           update scheduler.alert_webhooks set deleted_at = now() where id = ? and deleted_at is null returning id
         ), cancelled as (
           update scheduler.alert_deliveries d set status = 'failed', last_error = 'webhook deleted', updated_at = now()
             from gone where d.webhook_id = gone.id and d.status = 'pending'
         )
         select count(*)::int as deleted from gone`,
        [id],
      );
      return (row?.deleted ?? 0) > 0;
    },
  };
}

export type AlertRepository = ReturnType<typeof createAlertRepository>;
