import type { DueRotation } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { Logger } from '@csda/service-kit';
import { rotationDueAlert } from '../alerts/alert-events.ts';
import type { AlertInput } from '../alerts/alert.repository.ts';
import type { SchedulerClients } from '../clients.ts';
import type { JobQueue, RotationJobRequest } from './job-queue.ts';

export interface DueScanDeps {
  readonly clients: Pick<SchedulerClients, 'vault' | 'asScheduler'>;
  readonly queue: Pick<JobQueue, 'enqueueRotations'>;
  /** Raises alerts once per dedupe key; returns how many are new. */
  readonly raiseAlerts: (alerts: readonly AlertInput[]) => Promise<number>;
  readonly pageSize: number;
  readonly logger: Logger;
}

export interface DueScanResult {
  /** Due secrets the vault listed. */
  readonly due: number;
  /** Rotation jobs for automatic strategies: recorded now / already recorded / published. */
  readonly jobsCreated: number;
  readonly jobsExisting: number;
  readonly published: number;
  readonly publishFailed: number;
  /** Due `manual` secrets, and the rotation_due alerts raised for the first time. */
  readonly manual: number;
  readonly alertsRaised: number;
}

/** Most pages per scan: a vault that kept answering full pages would otherwise hold the scan forever. */
const MAX_PAGES = 10_000;

/** The job id of a due rotation: one per secret and due instant, whoever enqueues it and however often. */
export const dueJobId = (secretId: string, dueAtMs: bigint | number) => `rotate:${secretId}:${dueAtMs}`;

export function dueRotationJob(d: DueRotation): RotationJobRequest {
  return {
    jobId: dueJobId(d.secretId, d.dueAtMs),
    secretId: d.secretId,
    expectedVersion: d.currentVersion,
    dueAtMs: Number(d.dueAtMs),
    ownerId: d.ownerId,
    trigger: 'due',
  };
}

/**
 * Pages through the secrets due at `nowMs` (as service:scheduler) and, per
 * page, enqueues a rotation job for each automatic strategy and raises a
 * rotation_due alert for each `manual` one. Idempotent: a repeated or
 * concurrent scan finds the same ids and adds nothing.
 */
export async function scanDueRotations(deps: DueScanDeps, nowMs = Date.now()): Promise<DueScanResult> {
  const { clients, queue, raiseAlerts, pageSize } = deps;
  const totals = { due: 0, jobsCreated: 0, jobsExisting: 0, published: 0, publishFailed: 0, manual: 0, alertsRaised: 0 };
  const fetchPage = async (after: { dueAtMs: bigint; secretId: string }) =>
    (await clients.vault.listDueRotations({ nowMs: BigInt(nowMs), limit: pageSize, afterDueAtMs: after.dueAtMs, afterSecretId: after.secretId }, await clients.asScheduler('vault'))).items;
  let after = { dueAtMs: 0n, secretId: '' };
  let next = fetchPage(after);
  for (let page = 0; page < MAX_PAGES; page++) {
    const items = await next;
    if (items.length === 0) break;
    const last = items.at(-1)!;
    // A vault that does not move past its cursor would repeat this page forever.
    if (last.dueAtMs === after.dueAtMs && last.secretId === after.secretId) break;
    // Until an empty page (the vault may cap a page below pageSize); the next page is fetched while this one is enqueued.
    after = { dueAtMs: last.dueAtMs, secretId: last.secretId };
    next = fetchPage(after);
    // If enqueueing below throws, the prefetch's own failure must not go unhandled.
    next.catch(() => undefined);
    totals.due += items.length;
    const manual = items.filter((d) => d.strategy === 'manual');
    const automatic = items.filter((d) => d.strategy !== 'manual');
    if (automatic.length > 0) {
      const outcome = await queue.enqueueRotations(automatic.map(dueRotationJob));
      totals.jobsCreated += outcome.created;
      totals.jobsExisting += automatic.length - outcome.created;
      totals.published += outcome.published;
      totals.publishFailed += outcome.failed;
    }
    if (manual.length > 0) {
      totals.manual += manual.length;
      totals.alertsRaised += await raiseAlerts(manual.map((d) => rotationDueAlert({ secretId: d.secretId, ownerId: d.ownerId, name: d.name, dueAtMs: Number(d.dueAtMs) })));
    }
  }
  return totals;
}

/** One line for logs and job_runs. */
export function describeDueScan(r: DueScanResult): string {
  const parts = [
    `${r.due} due secret(s)`,
    `${r.jobsCreated} rotation job(s) enqueued, ${r.jobsExisting} already enqueued`,
    `${r.published} message(s) published`,
    `${r.manual} manual (${r.alertsRaised} new rotation_due alert(s))`,
  ];
  if (r.publishFailed > 0) parts.push(`${r.publishFailed} publish(es) failed, left queued for the next scan`);
  return parts.join('; ');
}
