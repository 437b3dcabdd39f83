import { existsSync, readlinkSync } from 'node:fs';

/** Where the sandboxed program lives: HOME and cwd, a fresh tmpfs per run. */
export const SANDBOX_HOME = '/sandbox';
/** The unprivileged uid/gid the sandbox runs as, outside (when the runner is root) and inside. */
export const SANDBOX_UID = 65534;

// /etc pieces a dynamically linked python3 or coreutils needs, and nothing else (no passwd, shadow, ssl keys).
const ETC_ALWAYS = ['/etc/ld.so.cache', '/etc/alternatives', '/etc/localtime'];
// CA certificates, only when the tool has network access (TLS through the proxy's tunnels is verified inside).
// No resolv.conf, hosts or nsswitch: names are resolved by the egress proxy, never inside the sandbox.
const ETC_NETWORK = ['/etc/ssl/certs', '/etc/ca-certificates'];
/** Where the run's egress directory (the proxy's unix socket) appears inside the sandbox, read-only. */
export const SANDBOX_EGRESS_DIR = '/run/egress';
/** The egress proxy's socket file name in that directory. */
export const EGRESS_SOCKET = 'proxy.sock';
/** The port of the relay to the egress proxy on the sandbox's own loopback (HTTP_PROXY / HTTPS_PROXY). */
export const SANDBOX_PROXY_PORT = 3128;

/** /bin, /lib, /lib64, /sbin: a link into /usr on merged-/usr systems, else a read-only bind. */
function topLevel(dir: string): string[] {
  const target = `usr${dir}`;
  if (existsSync(`/usr${dir}`) && isLinkTo(dir, target)) return ['--symlink', target, dir];
  return existsSync(dir) ? ['--ro-bind', dir, dir] : [];
}

function isLinkTo(path: string, target: string): boolean {
  try {
    return readlinkSync(path).replace(/^\//, '') === target;
  } catch {
    return false;
  }
}

/**
 * The bubblewrap arguments (before `--` and the program) for one run: every namespace new (user, pid, ipc,
 * uts, mount, cgroup and net — always: loopback only, no route out), no capabilities, no nested user
 * namespaces, uid 65534, read-only /usr and the few /etc files above, a new /proc of its own pid namespace, a
 * minimal read-only /dev, tmpfs HOME and /tmp of `tmpfsBytes` each, `egressDir` (the run's proxy socket)
 * read-only at SANDBOX_EGRESS_DIR when given, a read-only root, and the seccomp filter read from `seccompFd`
 * when given (see seccomp.ts).
 */
export function bwrapArgs(opts: { network: boolean; tmpfsBytes: number; seccompFd?: number; egressDir?: string }): string[] {
  const size = String(Math.max(1 << 20, Math.floor(opts.tmpfsBytes)));
  const etc = [...ETC_ALWAYS, ...(opts.network ? ETC_NETWORK : [])];
  return [
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--cap-drop', 'ALL',
    '--die-with-parent',
    '--new-session',
    '--hostname', 'sandbox',
    '--ro-bind', '/usr', '/usr',
    ...topLevel('/bin'),
    ...topLevel('/lib'),
    ...topLevel('/lib64'),
    ...topLevel('/sbin'),
    ...etc.flatMap((p) => ['--ro-bind-try', p, p]),
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', size, '--tmpfs', '/dev/shm',
    '--remount-ro', '/dev',
    '--size', size, '--tmpfs', '/tmp',
    '--size', size, '--tmpfs', SANDBOX_HOME,
    '--chdir', SANDBOX_HOME,
    ...(opts.egressDir !== undefined ? ['--ro-bind', opts.egressDir, SANDBOX_EGRESS_DIR] : []),
    '--remount-ro', '/',
    ...(opts.seccompFd !== undefined ? ['--seccomp', String(opts.seccompFd)] : []),
  ];
}
