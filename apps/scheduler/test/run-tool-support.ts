import { create, fromBinary, fromJson, toJson, type JsonObject, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import type { Principal } from '@csda/auth';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { GetUsersResponseSchema, UserStatusSchema } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { ToolInputSchema, type Execution, type Tool } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { connectNats, createMetrics, ensureConsumer, loadConfig, startConsumer, type ServiceRuntime } from '@csda/service-kit';
import { natsUrl } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { configSchema, type Config } from '../src/config.ts';
import { definition } from '../src/definition.ts';
import { EVENTS_CONSUMER_CONCURRENCY, eventsConsumerSpec } from '../src/jobs/events.consumer.ts';
import { createPipeline } from '../src/pipeline.ts';
import { createScheduleFiring, type ScheduleLoopDeps } from '../src/schedules/schedule-loop.ts';
import type { SchedulesHarness } from './schedules-harness.ts';

export const runTool = (toolId: string, input?: JsonValue) =>
  create(ScheduleTargetSchema, { kind: { case: 'runTool', value: { toolId, ...(input === undefined ? {} : { input: fromJson(ValueSchema, input) }) } } });

/** A python tool of `owner` in the real tool-runner (through the gateway's identity, as the REST API would). */
export async function pythonTool(
  h: SchedulesHarness,
  owner: Principal,
  name: string,
  code: string,
  extra: Omit<MessageInitShape<typeof ToolInputSchema>, '$typeName' | 'config' | 'inputSchema'> & { inputSchema?: JsonObject } = {},
): Promise<Tool> {
  const tool = create(ToolInputSchema, { name, toolType: 'python_script', config: { code }, timeoutS: 60, ...extra } as MessageInitShape<typeof ToolInputSchema>);
  return (await h.toolRunner!.createTool({ tool }, await h.as(owner, 'tool-runner'))).tool!;
}

/** The definition of `tool` as an UpdateTool input, with `changes` applied. */
export function toolChanged(tool: Tool, changes: Partial<Pick<Tool, 'isPublic' | 'inputSchema'>>) {
  const { name, description, toolType, config, inputSchema, timeoutS, maxOutputBytes, network, secrets, isPublic, sharedWithRoles } = { ...tool, ...changes };
  return create(ToolInputSchema, { name, description, toolType, config, inputSchema, timeoutS, maxOutputBytes, network, secrets, isPublic, sharedWithRoles });
}

export const output = (e: Execution | undefined) => (e?.output ? toJson(ValueSchema, e.output) : undefined);

/**
 * GetUsers as the gateway would answer it: each known user active with the
 * permissions the test sets (owners.set(id, {...}) to deactivate or narrow).
 */
export function fakeGateway(users: readonly Principal[]) {
  const owners = new Map<string, { active: boolean; permissions: readonly string[] }>(users.map((u) => [u.id, { active: true, permissions: u.permissions }]));
  const gateway: ScheduleLoopDeps['gateway'] = {
    async getUsers(req) {
      const found = (req.ids ?? []).flatMap((id) => {
        const known = users.find((u) => u.id === id);
        const state = owners.get(id);
        return known && state ? [create(UserStatusSchema, { id, username: known.name, isActive: state.active, roles: [...known.roles], permissions: [...state.permissions] })] : [];
      });
      return create(GetUsersResponseSchema, { users: found });
    },
  };
  return { gateway, owners };
}

/** The firing loop over the harness's database and clients (a run_tool target enqueues no rotation job). */
export function firingOf(h: SchedulesHarness, gateway: ScheduleLoopDeps['gateway'], extra: Partial<ScheduleLoopDeps> = {}) {
  return createScheduleFiring({
    em: () => h.orm.em.fork() as EntityManager,
    logger: h.logger,
    enqueueRotations: async () => {
      throw new Error('a run_tool schedule must not enqueue a rotation');
    },
    vault: h.clients.vault,
    toolRunner: h.clients.toolRunner,
    documents: h.clients.documents,
    asUser: h.clients.asUser,
    gateway,
    asScheduler: h.clients.asScheduler,
    clock: h.clock.now,
    resumeCheckMs: 0,
    ...extra,
  });
}

/** The tool-runner's audit records of one execution (its outbox, in the shared test database). */
export async function executionAudits(h: SchedulesHarness, executionId: string) {
  const rows = await h.sql<{ payload: Buffer }>(`select payload from tools.outbox where event_type = 'csda.events.v1.AuditEvent' and aggregate = $1 order by id`, [`execution:${executionId}`]);
  return rows.map((r) => fromBinary(AuditEventSchema, r.payload));
}

export async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The scheduler's EVENTS consumer (JobResults → job records and runs) on the
 * harness's database, as `serve` runs it, without the schedule loops. Returns its stop.
 */
export async function startEventsConsumer(h: SchedulesHarness, namespace: string): Promise<() => Promise<void>> {
  const nats = await connectNats(natsUrl(), 'scheduler', namespace);
  const config = loadConfig(configSchema, { ...h.schedulerEnv, NATS_NAMESPACE: namespace, SCHEDULER_LOOPS: 'false' });
  const runtime = { definition, config, logger: h.logger, orm: await h.openOrm(), nats, metrics: createMetrics('scheduler') } as unknown as ServiceRuntime<Config>;
  const pipeline = createPipeline(runtime, h.clients);
  const spec = eventsConsumerSpec(nats.subjects);
  await ensureConsumer(nats, spec);
  const events = await startConsumer(nats, { spec, concurrency: EVENTS_CONSUMER_CONCURRENCY, metrics: runtime.metrics.consumers, logger: runtime.logger, handler: pipeline.eventsHandler });
  return async () => {
    await events.stop();
    await nats.connection.close();
  };
}
