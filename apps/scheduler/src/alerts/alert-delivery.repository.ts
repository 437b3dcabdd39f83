import type { EntityManager } from '@mikro-orm/postgresql';
import { ALERT_COLUMNS, toAlert, toDate } from './alert.repository.ts';
import type { AlertKind, AlertRecord, AlertSeverity } from './alert.types.ts';

/** A delivery this replica has claimed: the alert to send and where, with the attempt it is on. */
export interface ClaimedDelivery {
  readonly id: string;
  /** 1 for the first attempt; already counted when claimed. */
  readonly attempt: number;
  readonly alert: AlertRecord;
  readonly webhook: {
    readonly id: string;
    readonly url: string;
    readonly signingSecretId: string;
    readonly createdBy: string;
    readonly createdByName: string;
    /** Deleted after the delivery was queued: it is given up, not sent. */
    readonly deleted: boolean;
  };
}

/** What happened to one attempt. */
export type DeliveryOutcome =
  | { readonly result: 'delivered'; readonly status: number }
  | { readonly result: 'retry'; readonly status: number | null; readonly error: string; readonly retryAt: Date }
  | { readonly result: 'failed'; readonly status: number | null; readonly error: string };

export interface DeliveryRecord {
  readonly id: string;
  readonly alertId: string;
  readonly webhookId: string;
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: Date | null;
}

interface ClaimRow {
  delivery_id: string;
  attempts: number;
  webhook_id: string;
  url: string;
  signing_secret_id: string;
  created_by: string;
  created_by_name: string;
  webhook_deleted: boolean;
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

const MAX_ERROR = 500;

/** The only place that touches `scheduler.alert_deliveries` for sending. */
export function createDeliveryRepository(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;

  return {
    /**
     * Claims up to `limit` due deliveries: rows locked by another replica are
     * skipped, and each claimed row's next attempt moves `leaseMs` ahead, so
     * no other replica picks it up while this one sends it. If this replica
     * dies mid-send, the lease runs out and the delivery is retried (same
     * webhook-id: receivers de-duplicate).
     */
    async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
      const rows = await run<ClaimRow[]>(
        `with due as (
           select d.id from scheduler.alert_deliveries d
            where d.status = 'pending' and d.next_attempt_at <= now()
            order by d.next_attempt_at, d.id
            limit ? for update skip locked
         ), claimed as (
           update scheduler.alert_deliveries d
              set attempts = d.attempts + 1, next_attempt_at = now() + (? || ' milliseconds')::interval, updated_at = now()
             from due where d.id = due.id
           returning d.id, d.alert_id, d.webhook_id, d.attempts
         )
         select c.id as delivery_id, c.attempts, w.id as webhook_id, w.url, w.signing_secret_id, w.created_by, w.created_by_name,
                w.deleted_at is not null as webhook_deleted, ${ALERT_COLUMNS}
           from claimed c
           join scheduler.alerts a on a.id = c.alert_id
           join scheduler.alert_webhooks w on w.id = c.webhook_id`,
        [limit, String(leaseMs)],
      );
      return rows.map((r) => ({
        id: r.delivery_id,
        attempt: r.attempts,
        alert: toAlert(r),
        webhook: {
          id: r.webhook_id,
          url: r.url,
          signingSecretId: r.signing_secret_id,
          createdBy: r.created_by,
          createdByName: r.created_by_name,
          deleted: r.webhook_deleted,
        },
      }));
    },

    /**
     * Records an attempt's outcome. Applies only while the claim holds (the
     * row is still pending at that attempt): a replica whose lease ran out
     * and was overtaken changes nothing.
     */
    async record(id: string, attempt: number, outcome: DeliveryOutcome): Promise<boolean> {
      const error = outcome.result === 'delivered' ? null : outcome.error.slice(0, MAX_ERROR);
      const status = outcome.result === 'delivered' ? 'delivered' : outcome.result === 'retry' ? 'pending' : 'failed';
      const rows = await run<{ id: string }[]>(
        `update scheduler.alert_deliveries
            set status = ?, last_status = ?, last_error = ?, updated_at = now(),
                delivered_at = case when ? = 'delivered' then now() else delivered_at end,
                next_attempt_at = coalesce(?::timestamptz, next_attempt_at)
          where id = ? and status = 'pending' and attempts = ?
          returning id`,
        [status, outcome.status, error, status, outcome.result === 'retry' ? outcome.retryAt : null, id, attempt],
      );
      return rows.length > 0;
    },

    /** Every delivery of an alert (operators, tests). */
    async forAlert(alertId: string): Promise<DeliveryRecord[]> {
      const rows = await run<
        {
          id: string;
          alert_id: string;
          webhook_id: string;
          status: DeliveryRecord['status'];
          attempts: number;
          next_attempt_at: Date | string;
          last_status: number | null;
          last_error: string | null;
          delivered_at: Date | string | null;
        }[]
      >(
        `select id, alert_id, webhook_id, status, attempts, next_attempt_at, last_status, last_error, delivered_at
           from scheduler.alert_deliveries where alert_id = ? order by created_at, id`,
        [alertId],
      );
      return rows.map((r) => ({
        id: r.id,
        alertId: r.alert_id,
        webhookId: r.webhook_id,
        status: r.status,
        attempts: r.attempts,
        nextAttemptAt: toDate(r.next_attempt_at),
        lastStatus: r.last_status,
        lastError: r.last_error,
        deliveredAt: r.delivered_at === null ? null : toDate(r.delivered_at),
      }));
    },
  };
}

export type DeliveryRepository = ReturnType<typeof createDeliveryRepository>;
