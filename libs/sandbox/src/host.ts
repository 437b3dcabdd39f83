import { accessSync, constants } from 'node:fs';

/** Absolute path of a host tool (bwrap, prlimit, setpriv) in the system directories, or null. */
export function findHostProgram(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Root can hand the sandbox to an unprivileged uid; anyone else runs it as themselves. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** First host uid/gid of the range sandboxes run as when the runner is root (no account uses them). */
export const HOST_UID_BASE = 1_500_000_000;
const HOST_UID_SLOTS_PER_PROCESS = 256;
let nextSlot = 0;

/**
 * The host uid (and gid) for one run when the runner is root: a different unprivileged id for each run,
 * so RLIMIT_NPROC — which the kernel also counts per host uid when bubblewrap forks — is one run's budget
 * alone (a fork bomb next door, or processes of the previous run still being reaped, cannot starve it),
 * and no two runs could signal each other even outside their pid namespaces. Within one process 256
 * consecutive runs get distinct ids; processes are spread by pid (two runner processes whose pids agree
 * mod 4096 may share ids, which shares a process budget, nothing more).
 */
export function allocateHostUid(): number {
  const slot = nextSlot;
  nextSlot = (nextSlot + 1) % HOST_UID_SLOTS_PER_PROCESS;
  return HOST_UID_BASE + (process.pid % 4096) * HOST_UID_SLOTS_PER_PROCESS + slot;
}
