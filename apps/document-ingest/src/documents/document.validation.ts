import { basename } from 'node:path';
import { isRoleName } from '@csda/auth';
import { NotFoundError, ValidationError } from '@csda/errors';
import { DOCUMENT_STATUSES } from './document.types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
export const MAX_TITLE = 500;
export const MAX_FILENAME = 255;
export const MAX_TAGS = 50;
export const MAX_TAG = 100;
export const MAX_ROLES = 50;

/** A document id from a request: anything that is not a UUID cannot name a document. */
export function checkDocumentId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('document', id.slice(0, 64));
  return id.toLowerCase();
}

export function checkPaging(limit: number, offset: number): { limit: number; offset: number } {
  return { limit: limit <= 0 ? 50 : Math.min(limit, 200), offset: Math.max(0, offset) };
}

/** The base name of an uploaded file (a client may send a path); required, printable, at most 255 characters. */
export function checkFilename(raw: string): string {
  const name = basename(raw.replaceAll('\\', '/')).trim();
  if (name === '' || name === '.' || name === '..') throw new ValidationError('A file name is required', { filename: 'required' });
  if (CONTROL.test(name)) throw new ValidationError('The file name contains control characters', { filename: 'no control characters' });
  if (name.length > MAX_FILENAME) throw new ValidationError(`The file name is longer than ${MAX_FILENAME} characters`, { filename: `at most ${MAX_FILENAME} characters` });
  return name;
}

export function checkTitle(raw: string, field = 'title'): string {
  const title = raw.trim();
  if (title === '') throw new ValidationError('The title is empty', { [field]: 'must not be empty' });
  if (CONTROL.test(title.replaceAll(/[\t\n]/g, ''))) throw new ValidationError('The title contains control characters', { [field]: 'no control characters' });
  if (title.length > MAX_TITLE) throw new ValidationError(`The title is longer than ${MAX_TITLE} characters`, { [field]: `at most ${MAX_TITLE} characters` });
  return title;
}

/** The title an upload gets when it names none: the file name without its extension. */
export function defaultTitle(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return (dot > 0 ? filename.slice(0, dot) : filename).slice(0, MAX_TITLE);
}

/** Tags: trimmed, non-empty, printable, at most 100 characters each and 50 in all; duplicates dropped, order kept. */
export function checkTags(raw: readonly string[], field = 'tags'): string[] {
  const tags = [...new Set(raw.map((t) => t.trim()))];
  if (tags.length > MAX_TAGS) throw new ValidationError(`At most ${MAX_TAGS} tags`, { [field]: `at most ${MAX_TAGS}` });
  tags.forEach((t, i) => {
    if (t === '' || CONTROL.test(t) || t.length > MAX_TAG) throw new ValidationError(`Tag ${i + 1} is invalid`, { [`${field}[${i}]`]: `1-${MAX_TAG} printable characters` });
  });
  return tags;
}

/** Role names as in Principal.roles (ROLE_NAME_PATTERN); duplicates dropped. */
export function checkRoles(raw: readonly string[], field = 'shared_with_roles'): string[] {
  const roles = [...new Set(raw)];
  if (roles.length > MAX_ROLES) throw new ValidationError(`At most ${MAX_ROLES} roles`, { [field]: `at most ${MAX_ROLES}` });
  roles.forEach((r, i) => {
    if (!isRoleName(r)) throw new ValidationError(`Role ${JSON.stringify(r.slice(0, 64))} is not a role name`, { [`${field}[${i}]`]: 'upper case letters, digits and _, starting with a letter' });
  });
  return roles;
}

export function checkStatusFilter(status: string): string | undefined {
  if (status === '') return undefined;
  if (!(DOCUMENT_STATUSES as readonly string[]).includes(status)) throw new ValidationError('Invalid status filter', { status: DOCUMENT_STATUSES.join(', ') });
  return status;
}
