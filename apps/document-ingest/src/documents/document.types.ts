import type { DocumentFormat } from '@csda/documents';
import type { BlobStoreKind } from '../blobs/blob-store.ts';

/** A version's place in the pipeline; `superseded`: a reindex replaced it before it finished (never a document's status). */
export const VERSION_STATUSES = ['queued', 'parsing', 'chunking', 'embedding', 'indexing', 'ready', 'failed', 'superseded'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];
/** What a document's status can be (DESIGN.md, the documents issue). */
export const DOCUMENT_STATUSES = ['queued', 'parsing', 'chunking', 'embedding', 'indexing', 'ready', 'failed'] as const;

export const STAGES = ['parse', 'chunk', 'embed', 'index'] as const;
export type Stage = (typeof STAGES)[number];

/** The status a version has while `stage` is its next (or running) stage. */
export const STAGE_STATUS: Readonly<Record<Stage, VersionStatus>> = { parse: 'parsing', chunk: 'chunking', embed: 'embedding', index: 'indexing' };

export const MIME_TYPES: Readonly<Record<DocumentFormat, string>> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html',
  md: 'text/markdown',
  txt: 'text/plain',
  csv: 'text/csv',
};

export interface VersionState {
  readonly version: number;
  readonly status: VersionStatus;
  readonly stage: Stage | null;
  readonly pagesParsed: number;
  readonly pagesTotal: number;
  readonly chunksTotal: number;
  readonly chunksEmbedded: number;
  readonly attempts: number;
  readonly stageMs: Readonly<Record<string, number>>;
  readonly error: string | null;
  readonly failedStage: Stage | null;
  readonly model: string | null;
  readonly updatedAt: Date;
}

/** The access facts search keeps with every chunk (index.proto DocumentAccess). */
export interface AccessFacts {
  readonly ownerId: string;
  readonly title: string;
  readonly tags: readonly string[];
  readonly isPublic: boolean;
  readonly sharedRoles: readonly string[];
  readonly accessSeq: bigint;
}

export interface DocumentRecord extends AccessFacts {
  readonly id: string;
  readonly filename: string;
  readonly format: DocumentFormat;
  readonly mimeType: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  readonly blobStore: BlobStoreKind;
  readonly blobKey: string;
  readonly currentVersion: number;
  readonly indexedVersion: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The current version's pipeline state. */
  readonly state: VersionState;
}

/** Who is looking: the acting user and their roles; `all` for documents:admin. */
export interface Visibility {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly all: boolean;
}
