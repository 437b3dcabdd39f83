import { create, toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { ValidationError, toConnectError } from '@csda/errors';
import { ScheduleRunSchema, ScheduleSchema, SchedulerService, ScheduleTargetSchema, type ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createServiceClient } from '@csda/service-kit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const TOOL = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const EXECUTION = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const SCHEDULE = '5e7f3a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** The proto oneof as the scheduler received it, with the input Value as JSON. */
function seenTarget(target: ScheduleTarget | undefined) {
  if (target?.kind.case !== 'runTool') return target?.kind.case;
  const { toolId, input } = target.kind.value;
  return { toolId, input: input ? toJson(ValueSchema, input) : undefined };
}

/**
 * The run_tool target over REST, `{"type": "run_tool", "tool_id", "input"}`,
 * both ways, against a local SchedulerService speaking the real protocol
 * (standing in for apps/scheduler, whose own checks are tested there).
 */
describe('schedules REST: the run_tool target', () => {
  const seen: { method: string; req: { target?: ScheduleTarget } & Record<string, unknown> }[] = [];
  let failWith: Error | undefined;
  let echo: ScheduleTarget | undefined;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;

  const record = (method: string, req: unknown) => {
    seen.push({ method, req: req as { target?: ScheduleTarget } });
    if (failWith) throw failWith;
  };
  const schedule = (over: Omit<MessageInitShape<typeof ScheduleSchema>, '$typeName'> = {}) =>
    create(ScheduleSchema, { id: SCHEDULE, ownerId: ALICE, name: 'nightly', cron: '0 3 * * *', timeZone: 'UTC', enabled: true, misfirePolicy: 'skip', overlapPolicy: 'forbid', createdAtMs: BigInt(T0), updatedAtMs: BigInt(T0), ...over });

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(SchedulerService, 'scheduler', publicKeyOf(), {
      // Echoes the target it was given, as the scheduler stores and returns it.
      createSchedule: (req) => (record('createSchedule', req), { schedule: schedule({ target: echo ?? req.target }) }),
      updateSchedule: (req) => (record('updateSchedule', req), { schedule: schedule({ target: req.target }) }),
      listSchedules: (req) => (record('listSchedules', req), { items: [schedule({ target: { kind: { case: 'runTool', value: { toolId: TOOL } } } })], total: 1n }),
      listScheduleRuns: (req) => (
        record('listScheduleRuns', req),
        {
          items: [
            create(ScheduleRunSchema, { id: 'r2', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0), firedAtMs: BigInt(T0 + 30), status: 'queued', jobId: EXECUTION }),
            create(ScheduleRunSchema, { id: 'r1', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0 - 600_000), firedAtMs: BigInt(T0 - 599_970), status: 'failed', detail: `tool ${TOOL}: the tool-runner refused: Tool ${TOOL} not found (NOT_FOUND)`, finishedAtMs: BigInt(T0 - 599_970) }),
          ],
          total: 2n,
        }
      ),
    });
    ({ app } = await buildOfflineApp({ signer, scheduler: createServiceClient(SchedulerService, backend.url), bodyLimitBytes: 262_144 }));
    api = client(app);
    alice = await offlineUserToken({ id: ALICE, username: 'alice' });
  });
  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });
  beforeEach(() => {
    seen.length = 0;
    failWith = undefined;
    echo = undefined;
  });

  const post = (target: unknown) => api('POST', '/api/v1/schedules', { token: alice, body: { name: 'nightly', cron: '0 3 * * *', target } });

  it('creates one: the REST target becomes the proto oneof with the input as a Value, and reads back the same', async () => {
    const input = { pattern: 'a+b', n: 3, nested: { list: [1, 'two', null, true] } };
    const res = await post({ type: 'run_tool', tool_id: TOOL, input });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(seenTarget(seen[0]!.req.target)).toEqual({ toolId: TOOL, input });
    expect(res.body?.target).toEqual({ type: 'run_tool', tool_id: TOOL, input });
  });

  it('an input left out is the empty object, both ways', async () => {
    const res = await post({ type: 'run_tool', tool_id: TOOL });
    expect(res.status).toBe(201);
    expect(seenTarget(seen[0]!.req.target)).toEqual({ toolId: TOOL, input: {} });
    expect(res.body?.target).toEqual({ type: 'run_tool', tool_id: TOOL, input: {} });
    // A stored target without an input Value (or a non-object one) reads as {}.
    echo = create(ScheduleTargetSchema, { kind: { case: 'runTool', value: { toolId: TOOL } } });
    expect((await post({ type: 'run_tool', tool_id: TOOL })).body?.target).toEqual({ type: 'run_tool', tool_id: TOOL, input: {} });
  });

  it('refuses malformed run_tool targets at the edge, naming the field, without calling the scheduler', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'run_tool' }, 'target'],
      [{ type: 'run_tool', tool_id: 'tool-1' }, 'target.tool_id'],
      [{ type: 'run_tool', tool_id: TOOL, input: [1, 2] }, 'target.input'],
      [{ type: 'run_tool', tool_id: TOOL, input: null }, 'target.input'],
      [{ type: 'run_tool', tool_id: TOOL, input: 'n=1' }, 'target.input'],
      [{ type: 'run_tool', tool_id: TOOL, input: { s: 'x'.repeat(70_000) } }, 'target.input'],
      // PostgreSQL cannot store U+0000: the edge refuses it in any body.
      [{ type: 'run_tool', tool_id: TOOL, input: { s: 'a\u0000b' } }, 'target.input.s'],
      [{ type: 'run_tool', tool_id: TOOL, input: {}, wait: true }, 'target'],
      [{ type: 'run_tool', secret_id: TOOL }, 'target'],
    ];
    for (const [target, field] of cases) {
      const res = await post(target);
      expect(res.status, JSON.stringify(target).slice(0, 200)).toBe(422);
      expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(target).slice(0, 200)).toContain(field);
    }
    expect(seen).toEqual([]);
  });

  it("passes the scheduler's check of the tool as the owner through as 422 naming target.tool_id", async () => {
    failWith = toConnectError(new ValidationError('Invalid target', { 'target.tool_id': 'no such tool, or not one you may run' }), false);
    const res = await post({ type: 'run_tool', tool_id: TOOL, input: { s: 'ok' } });
    expect(res.status).toBe(422);
    expect(res.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { 'target.tool_id': 'no such tool, or not one you may run' } });
    expect(seen).toHaveLength(1);
  });

  it('patches a target to run_tool; lists filter by target_type=run_tool; runs show the execution id as job_id and refusals as detail', async () => {
    const patched = await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { target: { type: 'run_tool', tool_id: TOOL, input: { q: 'x' } } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(seenTarget(seen.at(-1)!.req.target)).toEqual({ toolId: TOOL, input: { q: 'x' } });
    expect(patched.body?.target).toEqual({ type: 'run_tool', tool_id: TOOL, input: { q: 'x' } });

    const list = await api('GET', '/api/v1/schedules?target_type=run_tool', { token: alice });
    expect(list.status).toBe(200);
    expect(seen.at(-1)!.req).toMatchObject({ targetType: 'run_tool' });
    expect(list.body?.items[0].target).toEqual({ type: 'run_tool', tool_id: TOOL, input: {} });

    const runs = await api('GET', `/api/v1/schedules/${SCHEDULE}/runs`, { token: alice });
    expect(runs.status).toBe(200);
    expect(runs.body?.items[0]).toMatchObject({ status: 'queued', job_id: EXECUTION, finished_at: null });
    expect(runs.body?.items[1]).toMatchObject({ status: 'failed', job_id: null, detail: expect.stringContaining('NOT_FOUND') });
  });

  it('documents the run_tool variant in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const schemas = JSON.stringify(doc.components.schemas);
    expect(schemas).toContain('"run_tool"');
    expect(doc.components.schemas.RunToolTarget?.required).toEqual(expect.arrayContaining(['type', 'tool_id']));
  });
});
