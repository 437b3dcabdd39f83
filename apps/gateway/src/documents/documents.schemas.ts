import { ROLE_NAME_PATTERN } from '@csda/auth';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Document, DocumentStatus, UpdateDocumentRequestSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';

export const DOCUMENT_STATUSES = ['queued', 'parsing', 'chunking', 'embedding', 'indexing', 'ready', 'failed'] as const;
export const DOCUMENT_FORMATS = ['pdf', 'docx', 'html', 'md', 'txt', 'csv'] as const;

/** document-ingest's limits (apps/document-ingest/src/documents/document.validation.ts), checked here first. */
export const TITLE_MAX = 500;
export const TAGS_MAX = 50;
export const TAG_MAX = 100;
export const ROLES_MAX = 50;

// eslint-disable-next-line no-control-regex -- C0 controls and DEL have no place in a tag or role
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex -- a title may hold tabs and newlines, nothing else below U+0020
const TITLE_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

const title = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(TITLE_MAX, `must be at most ${TITLE_MAX} characters`)
  .refine((s) => !TITLE_CONTROL.test(s), { message: 'must not contain control characters' });
const tag = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(TAG_MAX, `must be at most ${TAG_MAX} characters`)
  .refine((s) => !CONTROL.test(s), { message: 'must not contain control characters' });
const tags = z.array(tag).max(TAGS_MAX, `at most ${TAGS_MAX} tags`);
const role = z.string().regex(ROLE_NAME_PATTERN, 'an upper-case role name such as ANALYST');
const roles = z.array(role).max(ROLES_MAX, `at most ${ROLES_MAX} roles`);

/**
 * A list in a form field or query parameter: the parameter repeated, values
 * separated by commas, or (forms) one JSON array — for tags holding commas.
 */
export function splitList(values: readonly unknown[]): unknown[] {
  return values.flatMap((v) => {
    if (Array.isArray(v)) return v as unknown[];
    if (typeof v !== 'string') return [v];
    const text = v.trim();
    if (text.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) return parsed as unknown[];
      } catch {
        // not JSON: an ordinary comma-separated value
      }
    }
    return text === '' ? [] : text.split(',');
  });
}

const listOf = <T extends z.ZodType<unknown, string[]>>(items: T, description: string) =>
  z
    .union([z.string(), z.array(z.string())])
    // Non-strings from a JSON array stay what they are, for the item schema to refuse by name.
    .transform((v) => splitList(Array.isArray(v) ? v : [v]) as string[])
    .pipe(items)
    .meta({ description });

// ---- upload (multipart/form-data)

/** The text fields of an upload, as they arrive (strings; repeatable lists), validated once the file part begins. */
export const uploadFields = z
  .object({
    title: title.optional().meta({ description: `1–${TITLE_MAX} characters; default: the file name without its extension` }),
    tags: listOf(tags, `Up to ${TAGS_MAX} tags of 1–${TAG_MAX} characters: repeat the field, separate with commas, or send one JSON array`).default([]),
    is_public: z.stringbool().default(false).meta({ description: 'true: every user may find and read it (default false)' }),
    shared_with_roles: listOf(roles, `Role names whose holders may read it (up to ${ROLES_MAX}), as for tags`).default([]),
  })
  .strict();

export const UPLOAD_FIELD_NAMES: ReadonlySet<string> = new Set(Object.keys(uploadFields.shape));

/** The form as OpenAPI shows it (the route reads it as a stream; `uploadFields` validates the text fields). */
export const uploadForm = uploadFields
  .extend({
    file: z.string().meta({ format: 'binary', description: 'The document (PDF, DOCX, HTML, Markdown, TXT or CSV), after the other fields; its type is sniffed and must agree with the name' }),
  })
  .meta({ id: 'DocumentUpload' });

export const uploadQuery = z.object({
  duplicate: z.enum(['allow']).optional().meta({ description: 'allow: store identical content again as a new document, instead of answering (200) the one you already uploaded' }),
});

// ---- list, patch

export const listDocumentsQuery = pageQuery.extend({
  status: z.enum(DOCUMENT_STATUSES).optional(),
  tags: listOf(tags, 'Only documents carrying every one of these tags (repeat the parameter or separate with commas)').optional(),
  owner_id: z.uuid().optional().meta({ description: 'documents:admin only: the documents of this owner' }),
});

export const updateDocumentBody = z
  .object({ title, tags, is_public: z.boolean(), shared_with_roles: roles })
  .partial()
  .strict()
  .meta({ id: 'DocumentUpdate', description: 'Fields given replace theirs (tags and shared_with_roles as a whole); search sees access changes.' });

export type UpdateDocumentBody = z.infer<typeof updateDocumentBody>;

export function updateRequestFromBody(id: string, b: UpdateDocumentBody): MessageInitShape<typeof UpdateDocumentRequestSchema> {
  return {
    id,
    title: b.title,
    isPublic: b.is_public,
    tags: b.tags ? { values: b.tags } : undefined,
    sharedWithRoles: b.shared_with_roles ? { values: b.shared_with_roles } : undefined,
  };
}

// ---- responses

const iso = z.iso.datetime({ offset: true });
const isoAlways = (ms: bigint) => new Date(ms > 0n ? Number(ms) : 0).toISOString();

const statusFields = {
  status: z.string().meta({ description: DOCUMENT_STATUSES.join(' | ') }),
  stage: z.string().nullable().meta({ description: 'The last stage reached: parse | chunk | embed | index (null while queued)' }),
  version: z.number().int().meta({ description: 'The version these facts are about (1, then +1 per reindex)' }),
  pages_parsed: z.number().int(),
  pages_total: z.number().int().meta({ description: 'PDF pages (0 for formats without pages)' }),
  chunks_embedded: z.number().int(),
  chunks_total: z.number().int().meta({ description: '0 until chunked' }),
  attempts: z.number().int().meta({ description: 'Delivery attempt of the current (or failing) stage' }),
  stage_ms: z.record(z.string(), z.number().int()).meta({ description: 'Milliseconds each finished stage took (parse, chunk, embed, index)' }),
  error: z.string().nullable().meta({ description: 'Why it failed, readable (e.g. "PDF is encrypted with a user password"); while a stage is retried, the last error' }),
  failed_stage: z.string().nullable(),
  indexed_version: z.number().int().nullable().meta({ description: 'The version search serves (null: none yet)' }),
  model: z.string().nullable().meta({ description: "The embedding model of this version's vectors" }),
  updated_at: iso,
};

export const documentStatusSchema = z.object(statusFields).meta({ id: 'DocumentProcessing' });
export const documentStatusResponse = z.object({ document_id: z.string(), ...statusFields }).meta({ id: 'DocumentStatus' });

export const documentSchema = z
  .object({
    id: z.string(),
    owner_id: z.string(),
    title: z.string(),
    tags: z.array(z.string()),
    is_public: z.boolean(),
    shared_with_roles: z.array(z.string()),
    filename: z.string(),
    format: z.string().meta({ description: DOCUMENT_FORMATS.join(' | ') }),
    mime_type: z.string(),
    size_bytes: z.number().int(),
    sha256: z.string().meta({ description: 'Lower-case hex SHA-256 of the original' }),
    status: z.string().meta({ description: `${DOCUMENT_STATUSES.join(' | ')} (details in processing)` }),
    processing: documentStatusSchema,
    created_at: iso,
    updated_at: iso,
  })
  .meta({ id: 'Document' });

export function statusToJson(s: DocumentStatus | undefined): z.infer<typeof documentStatusSchema> {
  return {
    status: s?.status || 'queued',
    stage: s?.stage || null,
    version: s?.version ?? 0,
    pages_parsed: s?.pagesParsed ?? 0,
    pages_total: s?.pagesTotal ?? 0,
    chunks_embedded: s?.chunksEmbedded ?? 0,
    chunks_total: s?.chunksTotal ?? 0,
    attempts: s?.attempts ?? 0,
    stage_ms: Object.fromEntries(Object.entries(s?.stageMs ?? {}).map(([k, v]) => [k, Number(v)])),
    error: s?.error || null,
    failed_stage: s?.failedStage || null,
    indexed_version: s?.indexedVersion || null,
    model: s?.model || null,
    updated_at: isoAlways(s?.updatedAtMs ?? 0n),
  };
}

export function documentToJson(d: Document): z.infer<typeof documentSchema> {
  const processing = statusToJson(d.status);
  return {
    id: d.id,
    owner_id: d.ownerId,
    title: d.title,
    tags: [...d.tags],
    is_public: d.isPublic,
    shared_with_roles: [...d.sharedWithRoles],
    filename: d.filename,
    format: d.format,
    mime_type: d.mimeType,
    size_bytes: Number(d.sizeBytes),
    sha256: d.sha256,
    status: processing.status,
    processing,
    created_at: isoAlways(d.createdAtMs),
    updated_at: isoAlways(d.updatedAtMs),
  };
}
