import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveProgram } from './argv.ts';
import { EGRESS_SOCKET, SANDBOX_EGRESS_DIR, SANDBOX_PROXY_PORT } from './bwrap-args.ts';
import type { EgressStarter } from './types.ts';
import { SandboxError } from './types.ts';

const FORWARDER = readFileSync(new URL('./egress-forwarder.py', import.meta.url), 'utf8');
const PROXY_URL = `http://127.0.0.1:${SANDBOX_PROXY_PORT}`;
// sockaddr_un.sun_path is 108 bytes with its NUL.
const MAX_SOCKET_PATH = 107;

/** The variables a network run gets (and which win over the request's): every common client finds the proxy. */
export const PROXY_ENV: Readonly<Record<string, string>> = {
  HTTP_PROXY: PROXY_URL,
  HTTPS_PROXY: PROXY_URL,
  http_proxy: PROXY_URL,
  https_proxy: PROXY_URL,
  NO_PROXY: '',
  no_proxy: '',
};

export interface PreparedEgress {
  /** Host directory holding the proxy's socket, bound read-only at SANDBOX_EGRESS_DIR. */
  readonly dir: string;
  /** The sandbox's entry: the relay, which then execs the program. */
  entry(program: string, args: readonly string[]): string[];
  /** Closes the proxy and removes the directory. */
  close(): Promise<void>;
}

/**
 * Starts the run's egress: a fresh directory (0700, owned by the run's host uid when the runner is root), the
 * caller's proxy listening on a unix socket in it (handed to the same uid), and the entry that starts the relay
 * from 127.0.0.1:SANDBOX_PROXY_PORT inside the sandbox's network namespace to that socket before the program.
 */
export async function prepareEgress(start: EgressStarter | undefined, hostUid: number | null): Promise<PreparedEgress> {
  if (typeof start !== 'function') throw new SandboxError('network: true needs an egress proxy (req.egress): the sandbox has no other way out');
  let python: string;
  try {
    python = resolveProgram('python3');
  } catch {
    throw new SandboxError('network: true needs python3 inside the sandbox for its egress relay');
  }
  const dir = mkdtempSync(join(tmpdir(), 'csda-egress-'));
  const socketPath = join(dir, EGRESS_SOCKET);
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  if (socketPath.length > MAX_SOCKET_PATH) {
    removeDir();
    throw new SandboxError(`the egress socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes: set TMPDIR to a shorter directory`);
  }
  chmodSync(dir, 0o700);
  let proxy: { close(): Promise<void> } | undefined;
  try {
    if (hostUid !== null) chownSync(dir, hostUid, hostUid);
    proxy = await start(socketPath);
    if (hostUid !== null) chownSync(socketPath, hostUid, hostUid);
  } catch (err) {
    await proxy?.close().catch(() => {});
    removeDir();
    if (err instanceof SandboxError) throw err;
    throw new SandboxError(`the egress proxy could not be started: ${err instanceof Error ? err.message : String(err)}`);
  }
  const started = proxy;
  return {
    dir,
    entry: (program, args) => [python, '-I', '-S', '-c', FORWARDER, String(SANDBOX_PROXY_PORT), `${SANDBOX_EGRESS_DIR}/${EGRESS_SOCKET}`, program, ...args],
    async close() {
      try {
        await started.close();
      } finally {
        removeDir();
      }
    },
  };
}
