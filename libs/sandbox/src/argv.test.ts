import { describe, expect, it } from 'vitest';
import { expandArgv, resolveProgram } from './argv.ts';
import { SandboxError } from './types.ts';

describe('expandArgv', () => {
  it('fills whole and partial elements, one element each', () => {
    expect(expandArgv(['grep', '-n', '{{pattern}}', '--max-count={{n}}', 'x{{a}}y{{b}}'], { pattern: 'a b', n: 3, a: true, b: null })).toEqual([
      'grep',
      '-n',
      'a b',
      '--max-count=3',
      'xtruey' + 'null',
    ]);
  });

  it('stringifies objects and arrays as JSON', () => {
    expect(expandArgv(['p', '{{o}}', '{{l}}'], { o: { k: [1, 'v'] }, l: [1, 2] })).toEqual(['p', '{"k":[1,"v"]}', '[1,2]']);
  });

  it('keeps hostile values literal and in one element', () => {
    const hostile = ['; rm -rf /', '$(id)', '`id`', 'a\nb', '--output=/etc/x', "' \" \\ | & > <", '{{other}}'];
    for (const v of hostile) {
      const out = expandArgv(['echo', '{{v}}', '--x={{v}}'], { v, other: 'NO' });
      expect(out).toEqual(['echo', v, `--x=${v}`]);
    }
  });

  it('does not expand placeholders inside values (no second pass)', () => {
    expect(expandArgv(['echo', '{{a}}'], { a: '{{b}}', b: 'x' })).toEqual(['echo', '{{b}}']);
  });

  it('names a missing parameter', () => {
    expect(() => expandArgv(['echo', '{{missing}}'], {})).toThrow(/parameter "missing" is missing/);
    expect(() => expandArgv(['echo', '{{toString}}'], {})).toThrow(SandboxError);
  });

  it('refuses NUL bytes and empty templates', () => {
    expect(() => expandArgv(['echo', '{{a}}'], { a: 'x\0y' })).toThrow(/NUL/);
    expect(() => expandArgv([], {})).toThrow(/empty/);
  });
});

describe('resolveProgram', () => {
  it('finds bare names in the sandbox PATH', () => {
    expect(resolveProgram('python3')).toMatch(/^\/usr\/(local\/)?bin\/python3$|^\/bin\/python3$/);
    expect(resolveProgram('sh')).toMatch(/\/sh$/);
  });

  it('accepts absolute paths under /usr and /bin', () => {
    expect(resolveProgram('/usr/bin/env')).toBe('/usr/bin/env');
    expect(resolveProgram('/bin/sh')).toBe('/bin/sh');
  });

  it('refuses relative paths, traversal, paths outside /usr and unknown programs', () => {
    expect(() => resolveProgram('./x')).toThrow(/bare name/);
    expect(() => resolveProgram('bin/sh')).toThrow(/bare name/);
    expect(() => resolveProgram('/usr/bin/../../etc/passwd')).toThrow(/plain absolute path/);
    expect(() => resolveProgram('/etc/passwd')).toThrow(/outside/);
    expect(() => resolveProgram('/tmp')).toThrow(/outside/);
    expect(() => resolveProgram('no-such-program-xyz')).toThrow(/not found in the sandbox's PATH/);
    expect(() => resolveProgram('/usr/share')).toThrow(/not an executable file/);
    expect(() => resolveProgram('')).toThrow(/no program/);
  });
});
