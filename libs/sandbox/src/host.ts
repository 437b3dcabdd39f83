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
