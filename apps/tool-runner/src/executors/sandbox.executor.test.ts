import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllowList } from '@csda/net';
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
const egress = { operatorAllow: parseAllowList('') };
const result = (r: Partial<SandboxResult>): SandboxResult => ({ exitCode: 0, signal: null, stdout: Buffer.from(''), stderr: Buffer.from(''), truncated: false, durationMs: 1, outcome: 'exited', ...r });

describe('sandbox executors', () => {
  it('refuses python and shell with SANDBOX_UNAVAILABLE and the reason when there is no sandbox', async () => {
    const x = createSandboxExecutors({ sandbox: undefined, unavailable: 'bubblewrap (bwrap) is not installed', memoryBytes: 1, processes: 1, egress });
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
    const x = createSandboxExecutors({ sandbox, memoryBytes: 5, processes: 6, egress });
    const ok = await x.python(req({}, { KEY: 'v' }));
    expect(ok).toMatchObject({ status: 'completed', output: { a: 1 }, exitCode: 0 });
    expect(seen[0]).toMatchObject({ argv: ['python3', '-I', '-c', 'print(1)'], stdin: '{"a":"$(id)"}', env: { KEY: 'v' }, network: false, limits: { wallMs: 7000, cpuSeconds: 7, memoryBytes: 5, processes: 6, outputBytes: 1000 } });
    expect(seen[0]!.egress).toBeUndefined();
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

  it('network: true starts a guarded proxy for the run; its refusals land in stderr, warnings and the error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'csda-egress-unit-'));
    let status = 0;
    // Stands in for the sandbox: starts the egress, makes the request a program inside would, then exits 1.
    const sandbox = {
      mode: 'bwrap' as const,
      run: async (r: SandboxRequest) => {
        const proxy = await r.egress!(join(dir, 'proxy.sock'));
        status = await new Promise<number>((resolve, reject) =>
          request({ socketPath: join(dir, 'proxy.sock'), path: 'http://127.0.0.1:9/x' }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
            .on('error', reject)
            .end(),
        );
        await proxy.close();
        return result({ exitCode: 1, stderr: Buffer.from('urllib.error.HTTPError: HTTP Error 403\n') });
      },
    };
    try {
      const x = createSandboxExecutors({ sandbox, memoryBytes: 5, processes: 6, egress });
      const r = await x.python(req({ network: true }));
      const reason = "host 127.0.0.1 is a loopback address and not allow-listed (neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it)";
      expect(status).toBe(403);
      expect(r.stderr).toBe(`urllib.error.HTTPError: HTTP Error 403\n[egress] refused GET http://127.0.0.1:9: ${reason}\n`);
      expect(r.warnings).toEqual([`egress refused GET http://127.0.0.1:9: ${reason}`]);
      expect(r.error).toEqual({ code: 'EXIT_CODE', message: `the program exited with code 1 (egress refused GET http://127.0.0.1:9: ${reason})` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('network: true: a program that tried a direct connection is told the proxy is the only way out', async () => {
    const sandbox = { mode: 'bwrap' as const, run: async () => result({ exitCode: 1, stderr: Buffer.from('ConnectionRefusedError: [Errno 111] Connection refused\n') }) };
    const x = createSandboxExecutors({ sandbox, memoryBytes: 5, processes: 6, egress });
    const r = await x.shell(req({ network: true }));
    expect(r.warnings).toEqual(['this tool reaches the network only through the HTTP(S) proxy in HTTP_PROXY/HTTPS_PROXY: direct connections and DNS lookups have no route']);
  });
});
