import { spawn } from 'node:child_process';
import { bwrapArgs } from './bwrap-args.ts';
import { allocateHostUid, findHostProgram, isRoot } from './host.ts';
import { seccompFilter } from './seccomp.ts';

/**
 * Whether bubblewrap sandboxes can run here: bwrap and prlimit are installed and a trivial sandbox
 * (`/usr/bin/true` with every namespace new and the seccomp filter, as the kind of uid real runs use) starts. When not, `reason` says why
 * in words an operator can act on.
 */
export async function detectSandbox(): Promise<{ available: boolean; reason?: string }> {
  const bwrap = findHostProgram('bwrap');
  if (!bwrap) return { available: false, reason: 'bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)' };
  if (!findHostProgram('prlimit')) return { available: false, reason: 'prlimit (util-linux) is not installed' };
  const truePath = findHostProgram('true');
  if (!truePath?.startsWith('/usr/')) return { available: false, reason: 'no /usr/bin/true to test the sandbox with' };
  const uid = isRoot() ? allocateHostUid() : null;
  const filter = seccompFilter();
  return new Promise((resolve) => {
    const child = spawn(bwrap, [...bwrapArgs({ network: false, tmpfsBytes: 1 << 20, ...(filter ? { seccompFd: 3 } : {}) }), '--', truePath], {
      env: {},
      stdio: ['ignore', 'ignore', 'pipe', filter ? 'pipe' : 'ignore'],
      ...(uid !== null ? { uid, gid: uid } : {}),
    });
    const fd3 = child.stdio[3];
    if (filter && fd3 && 'end' in fd3) {
      fd3.on('error', () => {});
      fd3.end(filter);
    }
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 2000) stderr += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ available: false, reason: `bwrap could not be started: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ available: true });
      const msg = stderr.trim() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      const hint = /namespace|permission|not permitted/i.test(msg)
        ? ' (user namespaces look disabled: check kernel.unprivileged_userns_clone / user.max_user_namespaces, or give the pod user namespaces or a runtimeClassName such as gVisor)'
        : '';
      resolve({ available: false, reason: `a test sandbox failed: ${msg}${hint}` });
    });
  });
}
