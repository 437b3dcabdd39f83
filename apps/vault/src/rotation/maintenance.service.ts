import type { Principal } from '@csda/auth';
import { AuthorizationError, ValidationError } from '@csda/errors';
import type { Subjects } from '@csda/service-kit';
import type { SecretRepository } from '../secrets/secret.repository.ts';
import type { DueRow } from './rotation.repository.ts';
import { secretExpiredMessage, secretExpiringMessage } from './rotation-events.ts';

/** The only principal allowed: the scheduler's own identity, acting for nobody. */
export const SCHEDULER_PRINCIPAL_ID = 'service:scheduler';
export const DEFAULT_WARNING_DAYS = [14, 3, 1] as const;
const MAX_LIMIT = 1_000;

export interface MaintenanceDeps {
  readonly repository: () => SecretRepository;
  readonly subjects: Subjects;
}

const requireScheduler = (p: Principal) => {
  if (p.kind !== 'service' || p.id !== SCHEDULER_PRINCIPAL_ID || p.onBehalfOf) throw new AuthorizationError('Only the scheduler service may call this');
};
const limitOf = (limit: number, fallback: number) => (limit <= 0 ? fallback : Math.min(limit, MAX_LIMIT));
// The scheduler may look at the past (a late run), never into the future: that would rotate or expire early.
const clampNow = (nowMs: number) => new Date(nowMs > 0 ? Math.min(nowMs, Date.now()) : Date.now());

function checkThresholds(days: readonly number[]): number[] {
  if (days.length === 0) return [...DEFAULT_WARNING_DAYS];
  const clean = [...new Set(days)];
  if (clean.length > 10 || clean.some((d) => !Number.isInteger(d) || d < 1 || d > 3_650)) {
    throw new ValidationError('Invalid expiry warning thresholds', { threshold_days: 'at most 10 whole numbers of days from 1 to 3650' });
  }
  return clean.sort((a, b) => b - a);
}

/**
 * Work the scheduler drives: finding due rotations, deactivating expired
 * secrets and warning before expiry. Callable only with the scheduler's
 * service identity; each batch commits its changes, audit and events together.
 */
export function createMaintenanceService(deps: MaintenanceDeps) {
  // The vault records its own actions (the gateway's audit consumer refuses another service as actor): the scheduler is the caller.
  const actor = { actor: 'service:vault', actorName: 'vault', resourceType: 'secret' } as const;
  return {
    async listDue(principal: Principal, req: { nowMs: number; limit: number; afterDueAtMs: number; afterSecretId: string }): Promise<DueRow[]> {
      requireScheduler(principal);
      const after = req.afterDueAtMs > 0 || req.afterSecretId ? { dueAt: new Date(req.afterDueAtMs), id: req.afterSecretId || '00000000-0000-0000-0000-000000000000' } : undefined;
      if (after && !/^[0-9a-f-]{36}$/i.test(after.id)) throw new ValidationError('Invalid page cursor', { after_secret_id: 'a secret id' });
      return deps.repository().listDue(clampNow(req.nowMs), after, limitOf(req.limit, 500));
    },

    async expire(principal: Principal, req: { nowMs: number; limit: number }): Promise<{ expired: number; more: boolean }> {
      requireScheduler(principal);
      const limit = limitOf(req.limit, 500);
      const now = clampNow(req.nowMs);
      const expired = await deps.repository().transaction(async (tx) => {
        const rows = await tx.expireBatch(now, limit);
        for (const r of rows) await tx.audit({ ...actor, action: 'secret_expired', outcome: 'success', resourceId: r.id, details: { expires_at: r.expiresAt.toISOString(), caller: SCHEDULER_PRINCIPAL_ID } });
        await tx.emit(rows.map((r) => secretExpiredMessage(deps.subjects, { ...r, at: now })));
        // Deactivated: is_active is in their metadata. (A warning changes nothing the vault shows: no event.)
        await tx.changed(rows.map((r) => ({ id: r.id, ownerId: r.ownerId, change: 'updated' as const })));
        return rows.length;
      });
      return { expired, more: expired === limit };
    },

    async warnExpiring(principal: Principal, req: { nowMs: number; thresholdDays: readonly number[]; limit: number }): Promise<{ warned: number; more: boolean }> {
      requireScheduler(principal);
      const limit = limitOf(req.limit, 500);
      const thresholds = checkThresholds(req.thresholdDays);
      const now = clampNow(req.nowMs);
      const warned = await deps.repository().transaction(async (tx) => {
        const rows = await tx.warnBatch(now, thresholds, limit);
        await tx.emit(rows.map((r) => secretExpiringMessage(deps.subjects, { ...r, at: now })));
        return rows.length;
      });
      return { warned, more: warned === limit };
    },
  };
}

export type MaintenanceService = ReturnType<typeof createMaintenanceService>;
