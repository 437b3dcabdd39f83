// The tool-runner's ResourceChanged events (resource_type `tool`), which the
// gateway's cache consumes to stop reading what it kept about a tool: each
// change through the API commits one with it, a refused change none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, waitFor } from '@csda/testing';
import { describeError, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

let h: Harness;
let tr: ToolRunner;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('tools-changed');
  // One slot, so a second execution stays queued behind a running one; a short lease so the sweeper runs every 2 s.
  tr = await h.start({ TOOLS_MAX_CONCURRENCY: '1', TOOLS_LEASE_S: '4', TOOLS_QUEUE_MAX_S: '10', TOOLS_WAIT_MAX_S: '20' });
});
afterAll(() => h?.close());

const subject = () => `${h.namespace}.csda.events.tool-runner.tool.changed`;
const pythonTool = async (name: string, code: string, extra: Parameters<typeof toolInput>[0] = {}, owner = alice) =>
  (await tr.client.createTool({ tool: toolInput({ name, toolType: 'python_script', config: { code }, ...extra }) }, await h.as(owner))).tool!;
const run = async (toolId: string, wait: boolean, who = alice) => (await tr.client.executeTool({ id: toolId, input: value({}), wait }, await h.as(who))).execution!;
const kinds = async (toolId: string) => (await h.changes(toolId)).map((c) => c.change);
const executed = async (toolId: string) => (await h.changes(toolId)).filter((c) => c.change === 'executed');
const status = async (id: string) => (await tr.client.getExecution({ id }, await h.as(alice))).execution!.status;

describe('tool ResourceChanged events', () => {
  it('create, a new version, a public flag, a sharing change and delete each commit one event about the tool, ids only, relayed to EVENTS', async () => {
    const python = (extra: Parameters<typeof toolInput>[0] = {}) => toolInput({ name: 'rc-named-tool', description: 'rc-description-text', toolType: 'python_script', config: { code: 'print("rc-code-text")' }, ...extra });
    const tool = (await tr.client.createTool({ tool: python() }, await h.as(alice))).tool!;
    const [created] = await h.changes(tool.id);
    expect(created).toMatchObject({ subject: subject(), resourceType: 'tool', resourceId: tool.id, change: 'created', ownerId: alice.id });
    expect(created!.eventId).not.toBe('');
    expect(created!.occurredAtMs).toBeGreaterThan(0n);

    await tr.client.updateTool({ id: tool.id, tool: python({ description: 'v2' }), expectedVersion: 1 }, await h.as(alice));
    await tr.client.updateTool({ id: tool.id, tool: python({ isPublic: true }) }, await h.as(alice));
    await tr.client.updateTool({ id: tool.id, tool: python({ isPublic: true, sharedWithRoles: ['ANALYST'] }) }, await h.as(alice));
    await tr.client.deleteTool({ id: tool.id }, await h.as(alice));

    const changes = await h.changes(tool.id);
    expect(changes.map((c) => c.change)).toEqual(['created', 'updated', 'updated', 'updated', 'deleted']);
    for (const c of changes) expect(c).toMatchObject({ subject: subject(), resourceType: 'tool', resourceId: tool.id, ownerId: alice.id });
    expect(new Set(changes.map((c) => c.eventId)).size).toBe(changes.length);
    // Never a name, description or code: only ids and the kind of change.
    const payloads = await query<{ payload: Buffer }>(h.db.url, `select payload from tools.outbox where aggregate = $1 and event_type = 'csda.events.v1.ResourceChanged'`, [`tool:${tool.id}`]);
    expect(payloads).toHaveLength(5);
    for (const { payload } of payloads) expect(payload.toString('latin1')).not.toMatch(/rc-named-tool|rc-description-text|rc-code-text|ANALYST/);

    // The relay publishes them on EVENTS, in commit order.
    await waitFor(async () => (await h.published(tool.id)).length === 5, { what: 'the five events on EVENTS' });
    const published = await h.published(tool.id);
    expect(published.map((p) => [p.subject, p.change, p.eventId])).toEqual(changes.map((c) => [subject(), c.change, c.eventId]));
  });

  it('a refused change commits nothing: validation, conflicts, not found, not the owner, a vault failure inside the transaction', async () => {
    const tool = await pythonTool('rc-refused', 'print(1)', { inputSchema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } });
    const before = (await h.changes()).length;
    const refused = async (call: Promise<unknown>, code: string) => expect((await describeError(call)).code).toBe(code);

    await refused(tr.client.createTool({ tool: toolInput({ name: '', toolType: 'nope' }) }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(tr.client.createTool({ tool: toolInput({ name: 'RC-REFUSED', toolType: 'python_script', config: { code: 'print(2)' } }) }, await h.as(alice)), 'CONFLICT');
    await refused(tr.client.updateTool({ id: tool.id, tool: toolInput({ name: 'rc-refused', toolType: 'python_script', config: {} }) }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(tr.client.updateTool({ id: tool.id, tool: toolInput({ name: 'rc-refused', toolType: 'python_script', config: { code: 'print(3)' } }), expectedVersion: 7 }, await h.as(alice)), 'CONFLICT');
    await refused(tr.client.updateTool({ id: tool.id, tool: toolInput({ name: 'rc-refused', toolType: 'python_script', config: { code: 'print(3)' } }) }, await h.as(bob)), 'NOT_FOUND');
    await refused(tr.client.deleteTool({ id: tool.id }, await h.as(bob)), 'NOT_FOUND');
    await refused(tr.client.deleteTool({ id: '00000000-0000-4000-8000-000000000001' }, await h.as(alice)), 'NOT_FOUND');
    await refused(tr.client.executeTool({ id: tool.id, input: value({ n: 'x' }), wait: true }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(tr.client.executeTool({ id: tool.id, input: value({ n: 1 }), wait: true }, await h.as(bob)), 'NOT_FOUND');

    // A tool holding a grant: saving or deleting it asks the vault inside the transaction (here unreachable),
    // so the change rolls back, and the event written before the call with it.
    await query(h.db.url, `update tools.tools set secrets = '[{"secret_id": "00000000-0000-4000-8000-0000000000aa", "as": "env:TOKEN"}]'::jsonb where id = $1`, [tool.id]);
    const saved = await describeError(tr.client.updateTool({ id: tool.id, tool: toolInput({ name: 'rc-refused', toolType: 'python_script', config: { code: 'print(4)' } }) }, await h.as(alice)));
    expect(saved.code).toBe('EXTERNAL_SERVICE_ERROR');
    const deleted = await describeError(tr.client.deleteTool({ id: tool.id }, await h.as(alice)));
    expect(deleted.code).toBe('EXTERNAL_SERVICE_ERROR');
    expect((await tr.client.getTool({ id: tool.id }, await h.as(alice))).tool).toMatchObject({ version: 1 });

    expect((await h.changes()).length).toBe(before);
  });

  it('an execution that finishes commits `executed` about its tool, owned by the tool owner; starting one commits nothing', async () => {
    const pub = await pythonTool('rc-public', 'print(1)', { isPublic: true });
    // bob runs alice's tool, waiting (run in place): the event names the tool's owner.
    const done = await run(pub.id, true, bob);
    expect(done.status).toBe('completed');
    expect(await executed(pub.id)).toEqual([expect.objectContaining({ subject: subject(), resourceType: 'tool', resourceId: pub.id, change: 'executed', ownerId: alice.id })]);
    expect((await tr.client.getToolStats({ id: pub.id }, await h.as(alice))).executions).toBe(1n);

    const failing = await pythonTool('rc-exit3', 'import sys\nsys.exit(3)');
    expect((await run(failing.id, true)).status).toBe('failed');
    expect((await executed(failing.id)).map((c) => c.ownerId)).toEqual([alice.id]);

    // Queued, then running: nothing yet. Cancelled while running: executed.
    const sleeper = await pythonTool('rc-sleeper', 'import time\ntime.sleep(60)', { timeoutS: 120 });
    const long = await run(sleeper.id, false);
    await waitFor(async () => (await status(long.id)) === 'running', { what: 'running' });
    // The one slot is taken: this one stays queued; cancelled there, it finishes at once.
    const queuedTool = await pythonTool('rc-queued', 'print(2)');
    const queued = await run(queuedTool.id, false);
    expect(await status(queued.id)).toBe('queued');
    expect(await kinds(sleeper.id)).toEqual(['created']);
    expect(await kinds(queuedTool.id)).toEqual(['created']);
    expect((await tr.client.cancelExecution({ id: queued.id }, await h.as(alice))).execution!).toMatchObject({ status: 'cancelled', startedAtMs: 0n });
    expect(await kinds(queuedTool.id)).toEqual(['created', 'executed']);
    expect((await tr.client.cancelExecution({ id: long.id }, await h.as(alice))).execution!.status).toBe('cancelled');
    expect(await kinds(sleeper.id)).toEqual(['created', 'executed']);
    // Cancelling a finished execution changes nothing.
    await tr.client.cancelExecution({ id: long.id }, await h.as(alice));
    expect(await kinds(sleeper.id)).toEqual(['created', 'executed']);

    await waitFor(async () => (await h.published(sleeper.id)).length === 2, { what: 'executed on EVENTS' });
    expect((await h.published(sleeper.id)).map((p) => [p.change, p.ownerId])).toEqual([
      ['created', alice.id],
      ['executed', alice.id],
    ]);
  });

  it('an execution the sweeper fails (QUEUE_EXPIRED) commits `executed` too', async () => {
    const tool = await pythonTool('rc-lost', 'print(1)', {}, bob);
    const lostId = '00000000-0000-4000-8000-00000000c0de';
    // alice's execution of bob's tool, queued 11 s ago, its job never published: the event names the tool's owner, bob.
    await query(h.db.url, `insert into tools.executions (id, tool_id, tool_version, owner_id, status, input, created_at) values ($1, $2, 1, $3, 'queued', '{}', now() - interval '11 seconds')`, [lostId, tool.id, alice.id]);
    await waitFor(async () => (await executed(tool.id)).length === 1, { what: 'executed after the sweep', timeoutMs: 15_000 });
    const [row] = await query<{ status: string; error: { code: string } }>(h.db.url, 'select status, error from tools.executions where id = $1', [lostId]);
    expect(row).toMatchObject({ status: 'failed', error: { code: 'QUEUE_EXPIRED' } });
    expect((await executed(tool.id))[0]).toMatchObject({ resourceId: tool.id, ownerId: bob.id });
  });
});
