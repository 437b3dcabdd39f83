import type { Multipart, MultipartFile } from '@fastify/multipart';
import { AppError, ValidationError } from '@csda/errors';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ROLES_MAX, TAGS_MAX, UPLOAD_FIELD_NAMES, uploadFields } from './documents.schemas.ts';

export type UploadFields = z.infer<typeof uploadFields>;

/**
 * The text fields' limits. The largest legitimate field is a list: 50 tags of
 * 100 characters as one JSON array are ~5 KiB in ASCII (send a list of
 * longer UTF-8 tags as repeated fields); a title is at most 500 characters.
 * Busboy holds a field whole until it ends, so these bound what one upload
 * keeps before its file: at most FIELDS_MAX_BYTES, plus one field.
 */
export const FIELD_MAX_BYTES = 8 * 1024;
export const FIELDS_MAX_BYTES = 32 * 1024;
/** title, is_public and every tag and role in a field of its own. */
export const FIELDS_MAX = 2 + TAGS_MAX + ROLES_MAX;
/**
 * The body before the file part, on the wire: the fields' values, their part
 * heads and room to spare. Busboy drops what passes `fieldSize` (it keeps
 * reading until the field's end), so this is what stops one endless field.
 */
export const FORM_MAX_BYTES = FIELDS_MAX_BYTES + 64 * 1024;

/**
 * The multipart plugin's options for uploads: the text fields above; exactly
 * one file. `fileSize` is the document limit: busboy then only truncates the
 * file and emits `limit`, which the upload turns into 413 (it never throws by itself).
 */
export const uploadFormOptions = (maxBytes: number) => ({
  throwFileSizeLimit: false,
  limits: { fields: FIELDS_MAX, fieldSize: FIELD_MAX_BYTES, fieldNameSize: 100, files: 1, parts: FIELDS_MAX + 1, headerPairs: 20, fileSize: maxBytes },
});

/** An upload's parts, read in order: the fields, then the file, then nothing. */
export interface UploadForm {
  readonly fields: UploadFields;
  /** The file part (its `file` stream not read yet). */
  readonly part: MultipartFile;
  /** Resolves once the multipart body has ended after the file; throws (422) when anything follows it. */
  end(): Promise<void>;
}

const LISTS = new Set(['tags', 'shared_with_roles']);

/**
 * Reads `request`'s multipart body up to the start of the file part (never
 * into it): the text fields, validated as `uploadFields` (422 naming the
 * field), and the file's stream. Each field is checked as it arrives (its
 * size, the fields' total, its value), so a bad one is refused before the
 * rest is read. Fields must come first — a form sends its parts in order,
 * so `-F file=@…` goes last.
 */
export async function readUploadForm(request: FastifyRequest): Promise<UploadForm> {
  if (!request.isMultipart()) throw new ValidationError('The upload must be multipart/form-data', { content_type: 'expected multipart/form-data' });
  const parts = request.parts()[Symbol.asyncIterator]();
  const raw = new Map<string, unknown[]>();
  let file: MultipartFile | undefined;
  const overrun = watchFormBytes(request);
  try {
    file = await readFields(parts, raw, overrun.passed);
  } finally {
    overrun.stop();
  }
  if (!file) throw new ValidationError('The file is missing', { file: 'required: a file part named "file"' });
  if (file.filename.trim() === '') throw new ValidationError('The file has no name', { file: 'needs a file name: its extension names the format' });
  const fields = validateFields(raw);
  return {
    fields,
    part: file,
    async end() {
      const after = await nextPart(parts);
      if (after.done) return;
      const name = clip(after.value.fieldname);
      throw new ValidationError(`Form field "${name}" came after the file: send the fields first`, { [name]: 'must come before the file part' });
    },
  };
}

/** The text fields into `raw`, each checked as it arrives, up to the file part (undefined: the body ended without one). */
async function readFields(parts: AsyncIterator<Multipart>, raw: Map<string, unknown[]>, overrun: Promise<never>): Promise<MultipartFile | undefined> {
  let total = 0;
  for (;;) {
    const next = await Promise.race([nextPart(parts), overrun]);
    if (next.done) return undefined;
    const part = next.value;
    if (part.type === 'file') {
      if (part.fieldname !== 'file') throw new ValidationError(`Unexpected file part "${clip(part.fieldname)}"`, { [clip(part.fieldname)]: 'the document goes in the field "file"' });
      return part;
    }
    const name = part.fieldname;
    if (name === 'file') throw new ValidationError('The file field holds no file', { file: 'must be a file part (Content-Disposition with a filename)' });
    if (!UPLOAD_FIELD_NAMES.has(name)) throw new ValidationError(`Unknown form field "${clip(name)}"`, { [clip(name)]: `unknown field; expected ${[...UPLOAD_FIELD_NAMES, 'file'].join(', ')}` });
    if (part.valueTruncated) {
      throw new ValidationError(`The ${name} field is too long`, { [name]: `too long: a field holds at most ${FIELD_MAX_BYTES / 1024} KiB${LISTS.has(name) ? ' (repeat the field for more)' : ''}` });
    }
    total += Buffer.byteLength(text(part.value));
    if (total > FIELDS_MAX_BYTES) throw new ValidationError('The form fields are too long', { [name]: `the text fields hold more than ${FIELDS_MAX_BYTES / 1024} KiB in all` });
    const values = [...(raw.get(name) ?? []), part.value];
    raw.set(name, values);
    check(name, values);
  }
}

/**
 * Counts the body's bytes until the file part begins (`stop`); `passed`
 * rejects (422) once they pass FORM_MAX_BYTES. The check waits a turn: the
 * chunk that passed may hold the file part's start, which the parser has
 * then handed on, and the watch stopped.
 */
function watchFormBytes(request: FastifyRequest) {
  let seen = 0;
  let stopped = false;
  let refuse!: (err: unknown) => void;
  const passed = new Promise<never>((_, reject) => (refuse = reject));
  passed.catch(() => undefined);
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen <= FORM_MAX_BYTES) return;
    request.raw.off('data', onData);
    setImmediate(() => {
      if (!stopped) refuse(new ValidationError('The form fields are too long', { form: `more than ${FORM_MAX_BYTES / 1024} KiB before the file part` }));
    });
  };
  request.raw.on('data', onData);
  return {
    passed,
    stop() {
      stopped = true;
      request.raw.off('data', onData);
    },
  };
}

/** A field's value as text (the plugin parses a part sent as application/json). */
const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** A field's values so far as `uploadFields` takes them: a list whole, anything else once. */
function formValue(name: string, values: readonly unknown[]): unknown {
  if (LISTS.has(name)) return values.map(text);
  if (values.length > 1) throw new ValidationError(`The ${name} field is given ${values.length} times`, { [name]: 'given more than once' });
  return typeof values[0] === 'boolean' ? String(values[0]) : values[0];
}

/** The field `name` with its values so far (a list's indexes count across its repeated fields). */
function check(name: string, values: readonly unknown[]): void {
  const parsed = uploadFields.shape[name as keyof UploadFields].safeParse(formValue(name, values));
  if (!parsed.success) throw invalid(parsed.error.issues, name);
}

function validateFields(raw: Map<string, unknown[]>): UploadFields {
  const form: Record<string, unknown> = {};
  for (const [name, values] of raw) form[name] = formValue(name, values);
  const parsed = uploadFields.safeParse(form);
  if (parsed.success) return parsed.data;
  throw invalid(parsed.error.issues);
}

function invalid(issues: readonly z.core.$ZodIssue[], field?: string): ValidationError {
  const details: Record<string, string> = {};
  for (const issue of issues) details[[field, ...issue.path].filter((p) => p !== undefined).join('.') || 'form'] ??= issue.message;
  return new ValidationError('Invalid upload fields', details);
}

/** The next part, with the parser's refusals as 422 envelopes. */
async function nextPart(parts: AsyncIterator<Multipart>): Promise<IteratorResult<Multipart>> {
  try {
    return await parts.next();
  } catch (err) {
    throw multipartError(err);
  }
}

const clip = (name: string) => name.slice(0, 100);

/** The multipart parser's (and the file stream's) refusals as 422 envelopes; anything else as it is. */
export function multipartError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown }).code;
  switch (code) {
    case 'FST_FILES_LIMIT':
      return new ValidationError('Only one file per upload', { file: 'exactly one file part' });
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new ValidationError('Too many form fields', { form: `at most ${FIELDS_MAX} fields` });
    case 'FST_PROTO_VIOLATION':
      return new ValidationError('Invalid form field name', { form: 'reserved field name' });
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new ValidationError('A field declared as JSON is not valid JSON', { form: 'invalid JSON field' });
    case 'FST_MP_PREMATURE_CLOSE':
      return new ValidationError('The upload ended early', { body: 'closed before the multipart body ended' });
    default: {
      const message = err instanceof Error ? err.message : '';
      if (/boundary/i.test(message)) return new ValidationError('The multipart body has no boundary', { content_type: 'multipart/form-data with a boundary' });
      // Busboy's (Dicer's) parse errors: the body ended inside a part or before its closing boundary.
      if (/unexpected end of multipart data|terminated early/i.test(message)) return new ValidationError('The multipart body ended early', { body: 'ended before the closing boundary' });
      return err;
    }
  }
}
