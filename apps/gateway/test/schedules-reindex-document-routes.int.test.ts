import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ValidationError, toConnectError } from '@csda/errors';
import { ScheduleRunSchema, ScheduleSchema, SchedulerService, type ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createServiceClient } from '@csda/service-kit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const DOC = '9b2d8e1f-3c4a-4b5d-8e6f-7a8b9c0d1e2f';
const SCHEDULE = '5e7f3a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

const seenDocument = (target: ScheduleTarget | undefined) => (target?.kind.case === 'reindexDocument' ? { documentId: target.kind.value.documentId } : target?.kind.case);

/**
 * The reindex_document target over REST, `{"type": "reindex_document",
 * "document_id"}`, both ways, against a local SchedulerService speaking the
 * real protocol (standing in for apps/scheduler, whose own checks are tested there).
 */
describe('schedules REST: the reindex_document target', () => {
  const seen: { method: string; req: { target?: ScheduleTarget } & Record<string, unknown> }[] = [];
  let failWith: Error | undefined;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;

  const record = (method: string, req: unknown) => {
    seen.push({ method, req: req as { target?: ScheduleTarget } });
    if (failWith) throw failWith;
  };
  const schedule = (over: Omit<MessageInitShape<typeof ScheduleSchema>, '$typeName'> = {}) =>
    create(ScheduleSchema, { id: SCHEDULE, ownerId: ALICE, name: 'weekly reindex', cron: '0 3 * * 0', timeZone: 'UTC', enabled: true, misfirePolicy: 'skip', overlapPolicy: 'forbid', createdAtMs: BigInt(T0), updatedAtMs: BigInt(T0), ...over });

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(SchedulerService, 'scheduler', publicKeyOf(), {
      createSchedule: (req) => (record('createSchedule', req), { schedule: schedule({ target: req.target }) }),
      updateSchedule: (req) => (record('updateSchedule', req), { schedule: schedule({ target: req.target }) }),
      listSchedules: (req) => (record('listSchedules', req), { items: [schedule({ target: { kind: { case: 'reindexDocument', value: { documentId: DOC } } } })], total: 1n }),
      listScheduleRuns: (req) => (
        record('listScheduleRuns', req),
        {
          items: [
            create(ScheduleRunSchema, { id: 'r2', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0), firedAtMs: BigInt(T0 + 30), status: 'queued', jobId: `${DOC}:v3`, detail: `document ${DOC}: version 3 queued` }),
            create(ScheduleRunSchema, { id: 'r1', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0 - 600_000), firedAtMs: BigInt(T0 - 599_970), status: 'failed', detail: `document ${DOC}: document-ingest refused: document ${DOC} not found (NOT_FOUND)`, finishedAtMs: BigInt(T0 - 599_970) }),
          ],
          total: 2n,
        }
      ),
    });
    ({ app } = await buildOfflineApp({ signer, scheduler: createServiceClient(SchedulerService, backend.url) }));
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
  });

  const post = (target: unknown) => api('POST', '/api/v1/schedules', { token: alice, body: { name: 'weekly reindex', cron: '0 3 * * 0', target } });

  it('creates one: the REST target becomes the proto oneof and reads back the same', async () => {
    const res = await post({ type: 'reindex_document', document_id: DOC });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(seenDocument(seen[0]!.req.target)).toEqual({ documentId: DOC });
    expect(res.body?.target).toEqual({ type: 'reindex_document', document_id: DOC });
  });

  it('refuses malformed reindex_document targets at the edge, naming the field, without calling the scheduler', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'reindex_document' }, 'target'],
      [{ type: 'reindex_document', document_id: 'doc-1' }, 'target.document_id'],
      [{ type: 'reindex_document', document_id: `${DOC}/../x` }, 'target.document_id'],
      [{ type: 'reindex_document', document_id: 42 }, 'target.document_id'],
      [{ type: 'reindex_document', document_id: DOC, version: 2 }, 'target'],
      [{ type: 'reindex_document', tool_id: DOC }, 'target'],
    ];
    for (const [target, field] of cases) {
      const res = await post(target);
      expect(res.status, JSON.stringify(target)).toBe(422);
      expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(target)).toContain(field);
    }
    expect(seen).toEqual([]);
  });

  it("passes the scheduler's check of the document as the owner through as 422 naming target.document_id", async () => {
    failWith = toConnectError(new ValidationError('Invalid target', { 'target.document_id': 'no such document, or not one you own' }), false);
    const res = await post({ type: 'reindex_document', document_id: DOC });
    expect(res.status).toBe(422);
    expect(res.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { 'target.document_id': 'no such document, or not one you own' } });
    expect(seen).toHaveLength(1);
  });

  it('patches a target to reindex_document; lists filter by target_type=reindex_document; runs show <document>:v<version> as job_id', async () => {
    const patched = await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { target: { type: 'reindex_document', document_id: DOC } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(seenDocument(seen.at(-1)!.req.target)).toEqual({ documentId: DOC });
    expect(patched.body?.target).toEqual({ type: 'reindex_document', document_id: DOC });

    const list = await api('GET', '/api/v1/schedules?target_type=reindex_document', { token: alice });
    expect(list.status).toBe(200);
    expect(seen.at(-1)!.req).toMatchObject({ targetType: 'reindex_document' });
    expect(list.body?.items[0].target).toEqual({ type: 'reindex_document', document_id: DOC });

    const runs = await api('GET', `/api/v1/schedules/${SCHEDULE}/runs`, { token: alice });
    expect(runs.status).toBe(200);
    expect(runs.body?.items[0]).toMatchObject({ status: 'queued', job_id: `${DOC}:v3`, detail: expect.stringContaining('version 3') });
    expect(runs.body?.items[1]).toMatchObject({ status: 'failed', job_id: null, detail: expect.stringContaining('NOT_FOUND') });
  });

  it('documents the reindex_document variant in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(JSON.stringify(doc.components.schemas)).toContain('"reindex_document"');
    expect(doc.components.schemas.ReindexDocumentTarget?.required).toEqual(expect.arrayContaining(['type', 'document_id']));
  });
});
