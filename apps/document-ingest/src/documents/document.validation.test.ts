import { ValidationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { checkFilename, checkRoles, checkTags, checkTitle, defaultTitle } from './document.validation.ts';

const fieldOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (err instanceof ValidationError) return Object.keys(err.details);
    throw err;
  }
  return [];
};

describe('document fields', () => {
  it('keeps the base name of a file, refusing empty, control characters and long names', () => {
    expect(checkFilename('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
    expect(checkFilename('../../x/notes.md')).toBe('notes.md');
    for (const bad of ['', '  ', '..', 'a/..', 'tab\there.txt', `${'x'.repeat(252)}.txt`]) expect(fieldOf(() => checkFilename(bad)), bad).toEqual(['filename']);
  });

  it('titles default to the name without its extension', () => {
    expect(defaultTitle('report.final.pdf')).toBe('report.final');
    expect(defaultTitle('.profile')).toBe('.profile');
    expect(checkTitle('  Spaced  ')).toBe('Spaced');
    expect(fieldOf(() => checkTitle(' '))).toEqual(['title']);
  });

  it('tags are trimmed and de-duplicated, bad ones named by position; roles must be role names', () => {
    expect(checkTags([' a ', 'a', 'b'])).toEqual(['a', 'b']);
    expect(fieldOf(() => checkTags(['ok', 'x'.repeat(101)]))).toEqual(['tags[1]']);
    expect(fieldOf(() => checkTags(Array.from({ length: 51 }, (_, i) => `t${i}`)))).toEqual(['tags']);
    expect(checkRoles(['LAB', 'LAB', 'ADMIN'])).toEqual(['LAB', 'ADMIN']);
    expect(fieldOf(() => checkRoles(['LAB', 'lab']))).toEqual(['shared_with_roles[1]']);
  });
});
