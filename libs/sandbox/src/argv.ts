import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { SandboxError } from './types.ts';

/** The only PATH inside the sandbox (read-only: /usr is bound read-only, /bin is a link to usr/bin). */
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

function stringify(name: string, value: unknown): string {
  if (value === undefined) throw new SandboxError(`parameter "${name}" is missing from the input`);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  return JSON.stringify(value);
}

/**
 * Fills an argv template. Each `{{param}}` — a whole element or part of one (`--name={{x}}`) — is replaced
 * inside that one element, so a value can never become a second element, a flag separator or a shell
 * string (no shell is ever started). Strings go in as they are, numbers and booleans as String(v),
 * objects and arrays as JSON. A missing parameter or a NUL byte in the result is a SandboxError naming it.
 */
export function expandArgv(template: string[], input: Record<string, unknown>): string[] {
  if (!Array.isArray(template) || template.length === 0) throw new SandboxError('the command template is empty');
  return template.map((element, i) => {
    if (typeof element !== 'string') throw new SandboxError(`command element ${i + 1} is not a string`);
    const out = element.replace(PLACEHOLDER, (_m, name: string) =>
      stringify(name, Object.prototype.hasOwnProperty.call(input, name) ? input[name] : undefined),
    );
    if (out.includes('\0')) throw new SandboxError(`command element ${i + 1} contains a NUL byte`);
    return out;
  });
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves argv[0] to the absolute path the sandbox will run. A bare program name is looked up in
 * SANDBOX_PATH; an absolute path must lie (after resolving links) under /usr, the only program tree
 * bound into the sandbox. Anything else (relative paths, `..`, missing or non-executable files) throws
 * a SandboxError saying why.
 */
export function resolveProgram(name: string): string {
  if (typeof name !== 'string' || name === '') throw new SandboxError('no program given');
  if (name.includes('\0')) throw new SandboxError('the program name contains a NUL byte');
  if (name.startsWith('/')) {
    if (posix.normalize(name) !== name || name.split('/').includes('..')) {
      throw new SandboxError(`program path ${name} is not a plain absolute path`);
    }
    let real: string;
    try {
      real = realpathSync(name);
    } catch {
      throw new SandboxError(`program ${name} does not exist`);
    }
    if (!real.startsWith('/usr/')) {
      throw new SandboxError(`program ${name} is outside the sandbox's read-only /usr and /bin`);
    }
    if (!isExecutableFile(real)) throw new SandboxError(`program ${name} is not an executable file`);
    return name;
  }
  if (name.includes('/') || name === '.' || name === '..') {
    throw new SandboxError(`program "${name}" must be a bare name found in ${SANDBOX_PATH} or an absolute path under /usr`);
  }
  for (const dir of SANDBOX_PATH.split(':')) {
    const candidate = `${dir}/${name}`;
    if (isExecutableFile(candidate)) {
      try {
        if (realpathSync(candidate).startsWith('/usr/')) return candidate;
      } catch {
        /* dangling link: keep looking */
      }
    }
  }
  throw new SandboxError(`program "${name}" was not found in the sandbox's PATH (${SANDBOX_PATH})`);
}
