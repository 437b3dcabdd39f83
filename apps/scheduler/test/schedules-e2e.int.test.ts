import { create } from '@bufbuild/protobuf';
import { GetUsersResponseSchema, UserStatusSchema } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { connectNats, createMetrics, ensureConsumer, loadConfig, startConsumer, type Nats, type ServiceRuntime } from '@csda/service-kit';
import { deleteNamespace, natsUrl, testNamespace } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../src/config.ts';
import { definition } from '../src/definition.ts';
import { EVENTS_CONSUMER_CONCURRENCY, eventsConsumerSpec } from '../src/jobs/events.consumer.ts';
import { createPipeline } from '../src/pipeline.ts';
import { createScheduleFiring } from '../src/schedules/schedule-loop.ts';
import { openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const rotate = (secretId: string) => create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId } } });

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A schedule end to end: the loop claims the slot and enqueues the job as
 * the owner; the real vault's JOBS_SECRETS worker rotates the secret (only
 * because that owner owns it) and publishes its JobResult; the scheduler's
 * EVENTS consumer folds it into the job record; the run reads as succeeded.
 * GetUsers is a deps function (the gateway's answer).
 */
describe('scheduler: a schedule rotates a secret end to end', () => {
  const namespace = testNamespace();
  let h: SchedulesHarness;
  let runtime: ServiceRuntime<Config>;
  let nats: Nats | undefined;
  let stopEvents: () => Promise<void>;
  let pipeline: ReturnType<typeof createPipeline>;

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-02-01T09:00:00Z', { vaultNamespace: namespace });
    // The runtime's parts the pipeline uses, opened here: openRuntime would install signal handlers in the test worker.
    nats = await connectNats(natsUrl(), 'scheduler', namespace);
    const config = loadConfig(configSchema, { ...h.schedulerEnv, NATS_NAMESPACE: namespace, SCHEDULER_LOOPS: 'false' });
    runtime = { definition, config, logger: h.logger, orm: await h.openOrm(), nats, metrics: createMetrics('scheduler') } as unknown as ServiceRuntime<Config>;
    pipeline = createPipeline(runtime, h.clients);
    const spec = eventsConsumerSpec(runtime.nats.subjects);
    await ensureConsumer(runtime.nats, spec);
    const events = await startConsumer(runtime.nats, { spec, concurrency: EVENTS_CONSUMER_CONCURRENCY, metrics: runtime.metrics.consumers, logger: runtime.logger, handler: pipeline.eventsHandler });
    stopEvents = () => events.stop();
  });
  afterAll(async () => {
    await stopEvents?.();
    await nats?.connection.close();
    await h?.close();
    await deleteNamespace(namespace);
  });

  it('fires, the vault rotates as the owner, the run and the schedule read succeeded; the next slot rotates again', async () => {
    const secret = await h.createSecret(alice, 'e2e-api-key');
    const { schedule } = await h.scheduler.createSchedule({ name: 'e2e', cron: '*/10 * * * *', timeZone: 'Europe/Berlin', target: rotate(secret.id), enabled: true }, await h.as(alice));
    const firing = createScheduleFiring({
      em: () => runtime.orm.em.fork() as EntityManager,
      logger: runtime.logger,
      enqueueRotations: (jobs, em) => pipeline.queue.enqueueRotations(jobs, em),
      vault: h.clients.vault,
      toolRunner: h.clients.toolRunner,
      documents: h.clients.documents,
      asUser: h.clients.asUser,
      gateway: { getUsers: async () => create(GetUsersResponseSchema, { users: [create(UserStatusSchema, { id: alice.id, username: 'alice', isActive: true, roles: ['USER'], permissions: [...alice.permissions] })] }) },
      asScheduler: h.clients.asScheduler,
      clock: h.clock.now,
    });
    const asAlice = await h.as(alice);
    const runs = () => h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice);

    for (const [i, slot] of ['2030-02-01T09:10:00Z', '2030-02-01T09:20:00Z'].entries()) {
      h.clock.set(new Date(new Date(slot).getTime() + 1_000).toISOString());
      expect((await firing.tick()).fired).toBe(1);
      const page = await until(runs, (p) => p.items[0]?.status === 'succeeded' || p.items[0]?.status === 'failed');
      expect(page.items).toHaveLength(i + 1);
      expect(page.items[0]).toMatchObject({ status: 'succeeded', scheduledForMs: BigInt(new Date(slot).getTime()), jobId: `schedule:${schedule!.id}:${new Date(slot).getTime()}` });
      expect(page.items[0]!.finishedAtMs).toBeGreaterThan(0n);
      const { secret: now } = await h.vault.getSecret({ id: secret.id }, await h.as(alice, 'vault'));
      expect(now?.currentVersion).toBe(secret.currentVersion + i + 1);
    }
    const revealed = await h.vault.revealSecret({ id: secret.id }, await h.as(alice, 'vault'));
    expect(revealed.value).not.toBe('value-of-e2e-api-key');
    expect((await h.scheduler.getSchedule({ id: schedule!.id }, asAlice)).schedule?.lastRunStatus).toBe('succeeded');
  });
});
