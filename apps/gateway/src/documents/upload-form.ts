import type { Multipart, MultipartFile } from '@fastify/multipart';
import { AppError, ValidationError } from '@csda/errors';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { UPLOAD_FIELD_NAMES, uploadFields } from './documents.schemas.ts';

export type UploadFields = z.infer<typeof uploadFields>;

/**
 * The multipart plugin's options for uploads. The text fields are small (a
 * title, up to 50 tags and 50 roles, repeated or not); exactly one file.
 * `fileSize` is the document limit: busboy then only truncates the file and
 * emits `limit`, which the upload turns into 413 (it never throws by itself).
 */
export const uploadFormOptions = (maxBytes: number) => ({
  throwFileSizeLimit: false,
  limits: { fields: 120, fieldSize: 64 * 1024, fieldNameSize: 100, files: 1, parts: 125, headerPairs: 20, fileSize: maxBytes },
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
 * field), and the file's stream. Fields must come first — a form sends its
 * parts in order, so `-F file=@…` goes last.
 */
export async function readUploadForm(request: FastifyRequest): Promise<UploadForm> {
  if (!request.isMultipart()) throw new ValidationError('The upload must be multipart/form-data', { content_type: 'expected multipart/form-data' });
  const parts = request.parts()[Symbol.asyncIterator]();
  const raw = new Map<string, unknown[]>();
  let file: MultipartFile | undefined;
  while (!file) {
    const next = await nextPart(parts);
    if (next.done) break;
    const part = next.value;
    if (part.type === 'file') {
      if (part.fieldname !== 'file') throw new ValidationError(`Unexpected file part "${clip(part.fieldname)}"`, { [clip(part.fieldname)]: 'the document goes in the field "file"' });
      file = part;
      break;
    }
    const name = part.fieldname;
    if (name === 'file') throw new ValidationError('The file field holds no file', { file: 'must be a file part (Content-Disposition with a filename)' });
    if (!UPLOAD_FIELD_NAMES.has(name)) throw new ValidationError(`Unknown form field "${clip(name)}"`, { [clip(name)]: `unknown field; expected ${[...UPLOAD_FIELD_NAMES, 'file'].join(', ')}` });
    if (part.valueTruncated) throw new ValidationError(`The ${name} field is too long`, { [name]: 'too long' });
    raw.set(name, [...(raw.get(name) ?? []), part.value]);
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

function validateFields(raw: Map<string, unknown[]>): UploadFields {
  const form: Record<string, unknown> = {};
  for (const [name, values] of raw) {
    if (LISTS.has(name)) form[name] = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    else if (values.length > 1) throw new ValidationError(`The ${name} field is given ${values.length} times`, { [name]: 'given more than once' });
    else form[name] = typeof values[0] === 'boolean' ? String(values[0]) : values[0];
  }
  const parsed = uploadFields.safeParse(form);
  if (parsed.success) return parsed.data;
  const details: Record<string, string> = {};
  for (const issue of parsed.error.issues) details[issue.path.join('.') || 'form'] ??= issue.message;
  throw new ValidationError('Invalid upload fields', details);
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
      return new ValidationError('Too many form fields', { form: 'at most 120 fields' });
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
