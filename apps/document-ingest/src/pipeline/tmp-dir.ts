import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'csda-ingest-';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * This process's own directory for originals being parsed
 * (`<base>/csda-ingest-<pid>`). Directories of processes that are gone — a
 * replica killed mid-parse leaves its copy behind — are removed first, so the
 * temporary space does not fill up with them.
 */
export async function openTmpDir(base: string): Promise<{ path: string; remove(): Promise<void> }> {
  await mkdir(base, { recursive: true });
  for (const name of await readdir(base)) {
    const pid = name.startsWith(PREFIX) ? Number(name.slice(PREFIX.length)) : NaN;
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) await rm(join(base, name), { recursive: true, force: true });
  }
  const path = join(base, `${PREFIX}${process.pid}`);
  await rm(path, { recursive: true, force: true });
  await mkdir(path, { mode: 0o700 });
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
