import { create } from '@bufbuild/protobuf';
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { DueRotationSchema, VaultService, type ListDueRotationsRequest } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createLogger } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import type { AlertInput } from '../alerts/alert.repository.ts';
import { describeDueScan, scanDueRotations } from './due-rotations.ts';
import type { RotationJobRequest } from './job-queue.ts';

const due = (i: number, strategy = 'random') =>
  create(DueRotationSchema, { secretId: `s${String(i).padStart(3, '0')}`, ownerId: `u${i % 2}`, name: `n${i}`, strategy, currentVersion: i, dueAtMs: BigInt(1_000 + i) });

function fakeVault(all: ReturnType<typeof due>[], options: { stuck?: boolean } = {}) {
  const requests: ListDueRotationsRequest[] = [];
  const tokens: (string | null)[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(VaultService, {
      listDueRotations(req, ctx) {
        requests.push(req);
        tokens.push(ctx.requestHeader.get('csda-internal-token'));
        if (options.stuck) return { items: all.slice(0, req.limit) };
        const start = all.findIndex((d) => d.dueAtMs > req.afterDueAtMs || (d.dueAtMs === req.afterDueAtMs && d.secretId > req.afterSecretId));
        return { items: start === -1 ? [] : all.slice(start, start + req.limit) };
      },
    });
  });
  return { vault: createClient(VaultService, transport), requests, tokens };
}

function deps(vault: ReturnType<typeof fakeVault>['vault'], pageSize: number) {
  const enqueued: RotationJobRequest[][] = [];
  const alerts: AlertInput[] = [];
  const seen = new Set<string>();
  return {
    enqueued,
    alerts,
    deps: {
      clients: { vault, asScheduler: async () => ({ headers: { 'csda-internal-token': 'scheduler-token' } }) },
      queue: {
        enqueueRotations: async (jobs: readonly RotationJobRequest[]) => {
          enqueued.push([...jobs]);
          const created = jobs.filter((j) => !seen.has(j.jobId)).length;
          jobs.forEach((j) => seen.add(j.jobId));
          return { created, published: jobs.length, failed: 0 };
        },
      },
      raiseAlerts: async (a: readonly AlertInput[]) => {
        alerts.push(...a);
        return a.length;
      },
      pageSize,
      logger: createLogger({ service: 'test', level: 'silent' }),
    },
  };
}

describe('scanDueRotations', () => {
  it('pages through every due secret with its own identity, enqueueing automatic ones and alerting manual ones', async () => {
    const all = Array.from({ length: 25 }, (_, i) => due(i, i % 5 === 0 ? 'manual' : i % 2 ? 'postgres' : 'random'));
    const fake = fakeVault(all);
    const { deps: d, enqueued, alerts } = deps(fake.vault, 10);
    const result = await scanDueRotations(d, 5_000);
    expect(fake.requests.map((r) => [r.afterDueAtMs, r.afterSecretId])).toEqual([
      [0n, ''],
      [1_009n, 's009'],
      [1_019n, 's019'],
      [1_024n, 's024'],
    ]);
    expect(fake.requests.every((r) => r.nowMs === 5_000n && r.limit === 10)).toBe(true);
    expect(fake.tokens.every((t) => t === 'scheduler-token')).toBe(true);
    const jobs = enqueued.flat();
    expect(jobs).toHaveLength(20);
    expect(jobs[0]).toEqual({ jobId: 'rotate:s001:1001', secretId: 's001', expectedVersion: 1, dueAtMs: 1_001, ownerId: 'u1', trigger: 'due' });
    expect(alerts.map((a) => a.dedupeKey)).toEqual(['rotation_due:s000:1000', 'rotation_due:s005:1005', 'rotation_due:s010:1010', 'rotation_due:s015:1015', 'rotation_due:s020:1020']);
    expect(alerts[0]).toMatchObject({ kind: 'rotation_due', ownerId: 'u0', resourceType: 'secret', resourceId: 's000' });
    expect(result).toMatchObject({ due: 25, jobsCreated: 20, jobsExisting: 0, manual: 5, alertsRaised: 5, publishFailed: 0 });
    expect(describeDueScan(result)).toContain('25 due secret(s)');

    const again = await scanDueRotations(d, 5_000);
    expect(again).toMatchObject({ due: 25, jobsCreated: 0, jobsExisting: 20 });
  });

  it('stops when the vault does not advance its cursor instead of looping forever', async () => {
    const fake = fakeVault([due(1), due(2)], { stuck: true });
    const { deps: d } = deps(fake.vault, 2);
    await scanDueRotations(d, 5_000);
    expect(fake.requests).toHaveLength(2);
  });

  it('fails when the vault fails (the loop retries at the next tick, the one-shot exits non-zero)', async () => {
    const transport = createRouterTransport(({ service }) => {
      service(VaultService, {
        listDueRotations() {
          throw new Error('vault down');
        },
      });
    });
    const { deps: d } = deps(createClient(VaultService, transport), 10);
    await expect(scanDueRotations(d)).rejects.toThrow();
  });
});
