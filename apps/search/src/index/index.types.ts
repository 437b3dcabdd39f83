/** The access facts that travel with a document (and are copied onto its chunks and passages). */
export interface AccessFacts {
  readonly ownerId: string;
  readonly isPublic: boolean;
  readonly sharedRoles: readonly string[];
  readonly tags: readonly string[];
  readonly title: string;
  readonly accessSeq: bigint;
}

export interface StagedChunk {
  readonly id: string;
  readonly chunkIndex: number;
  readonly content: string;
  readonly headingPath: readonly string[];
  /** null when the format has no pages (0 on the wire). */
  readonly pageStart: number | null;
  readonly pageEnd: number | null;
  /** pgvector text literals, one per passage. */
  readonly passages: readonly string[];
}

/** One validated IndexChunksBatch. */
export interface ChunkBatch {
  readonly documentId: string;
  readonly version: number;
  readonly batchIndex: number;
  readonly batchCount: number;
  readonly totalChunks: number;
  readonly model: string;
  readonly dims: number;
  readonly access: AccessFacts;
  readonly chunks: readonly StagedChunk[];
}

/** A DocumentDeleted: `version` null deletes every version, for good. */
export interface DocumentDeletion {
  readonly documentId: string;
  readonly version: number | null;
}

export interface AccessChange {
  readonly documentId: string;
  readonly access: AccessFacts;
}

/** What search keeps per document (search.documents). */
export interface DocumentState {
  readonly documentId: string;
  readonly liveVersion: number | null;
  readonly access: AccessFacts;
  readonly deletedThrough: number | null;
}

/** deleted_through of a document deleted as a whole (every version, including later ones). */
export const WHOLE_DOCUMENT = 2_147_483_647;
