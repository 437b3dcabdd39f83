import { describe, expect, it } from 'vitest';
import type { SandboxRequest, SandboxResult } from '@csda/sandbox';
import { createSandboxExecutors } from './sandbox.executor.ts';
import type { ExecutorRequest } from './executor.types.ts';

const req = (over: Partial<ExecutorRequest['tool']> = {}, secrets: Record<string, string> = {}): ExecutorRequest => ({
  executionId: 'e',
  toolId: 't',
  tool: { name: 'n', description: '', toolType: 'python_script', config: { code: 'print(1)', command: ['echo', '{{a}}'] }, inputSchema: {}, timeoutS: 7, maxOutputBytes: 1000, network: false, secrets: [], isPublic: false, sharedWithRoles: [], ...over },
  input: { a: '$(id)' },
  secrets: { env: secrets, headers: {} },
  signal: new AbortController().signal,
});
const result = (r: Partial<SandboxResult>): SandboxResult => ({ exitCode: 0, signal: null, stdout: Buffer.from(''), stderr: Buffer.from(''), truncated: false, durationMs: 1, outcome: 'exited', ...r });

describe('sandbox executors', () => {
  it('refuses python and shell with SANDBOX_UNAVAILABLE and the reason when there is no sandbox', async () => {
    const x = createSandboxExecutors({ sandbox: undefined, unavailable: 'bubblewrap (bwrap) is not installed', memoryBytes: 1, processes: 1 });
    for (const run of [x.python, x.shell]) {
      const r = await run(req());
      expect(r.status).toBe('failed');
      expect(r.error).toEqual({ code: 'SANDBOX_UNAVAILABLE', message: expect.stringContaining('bubblewrap (bwrap) is not installed') });
    }
  });

  it('passes argv, stdin, env grants, network and limits; maps outcomes', async () => {
    const seen: SandboxRequest[] = [];
    let next = result({ stdout: Buffer.from('{"a":1}\n') });
    const sandbox = { mode: 'bwrap' as const, run: async (r: SandboxRequest) => (seen.push(r), next) };
    const x = createSandboxExecutors({ sandbox, memoryBytes: 5, processes: 6 });
    const ok = await x.python(req({}, { KEY: 'v' }));
    expect(ok).toMatchObject({ status: 'completed', output: { a: 1 }, exitCode: 0 });
    expect(seen[0]).toMatchObject({ argv: ['python3', '-I', '-c', 'print(1)'], stdin: '{"a":"$(id)"}', env: { KEY: 'v' }, network: false, limits: { wallMs: 7000, cpuSeconds: 7, memoryBytes: 5, processes: 6, outputBytes: 1000 } });
    await x.shell(req());
    expect(seen[1]!.argv).toEqual(['echo', '$(id)']);
    next = result({ outcome: 'timed_out', exitCode: null, reason: 'killed after 7 s' });
    expect(await x.python(req())).toMatchObject({ status: 'timed_out', error: { code: 'TIMED_OUT', message: 'killed after 7 s' } });
    next = result({ outcome: 'output_limit', truncated: true, reason: 'output cut at 1000 B' });
    expect(await x.python(req())).toMatchObject({ status: 'failed', truncated: true, error: { code: 'OUTPUT_LIMIT' } });
    next = result({ outcome: 'cancelled', exitCode: null });
    expect((await x.python(req())).status).toBe('cancelled');
    next = result({ exitCode: 1, stderr: Buffer.from('OSError: [Errno 101] Network is unreachable') });
    const net = await x.python(req());
    expect(net.warnings).toEqual(['network access is off for this tool']);
    expect(net.error?.message).toMatch(/network access is off for this tool/);
  });
});
