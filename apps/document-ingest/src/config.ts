import { tmpdir } from 'node:os';
import { checkEmbeddingConfig, embeddingConfigShape } from '@csda/embeddings';
import { baseConfigShape, portVar, urlVar } from '@csda/service-kit';
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const bool = (fallback: boolean) => z.union([z.boolean(), z.stringbool()]).default(fallback);
const MIB = 1024 * 1024;

export const configSchema = z
  .object({
    ...baseConfigShape,
    RPC_PORT: portVar(50053),
    OPS_PORT: portVar(9093),
    /** Largest upload, in bytes (default 50 MiB): a stream that passes it is refused at once (PAYLOAD_TOO_LARGE → 413). */
    DOCUMENT_MAX_BYTES: int(1, 4 * 1024 * MIB, 50 * MIB),
    /** Pipeline stages one replica runs at once. */
    DOCUMENT_CONCURRENCY: int(1, 64, 2),
    /** Deliveries of one stage job before the document fails and the job is dead-lettered. */
    DOCUMENT_MAX_ATTEMPTS: int(1, 20, 5),
    /** A delivered stage with no heartbeat for this long is redelivered (a killed replica's stage comes back after it). */
    DOCUMENT_ACK_WAIT_S: int(2, 3_600, 60),
    /** Memory of one parse worker (V8 heap + ArrayBuffers). */
    DOCUMENT_PARSE_MEMORY_MB: int(64, 16_384, 512),
    /** Wall-clock limit of one parse. */
    DOCUMENT_PARSE_TIMEOUT_S: int(1, 3_600, 60),
    /** DOCX: largest declared uncompressed size of the package (zip bombs fail beyond it). */
    DOCUMENT_MAX_UNCOMPRESSED_MB: int(1, 65_536, 200),
    /** Chunks embedded per committed round: a redelivered embed stage resumes after the last round. */
    DOCUMENT_EMBED_CHUNKS: int(1, 4_096, 32),
    /** A stage (other than waiting for search) with no progress for this long is queued again; after 3 times the document fails. */
    DOCUMENT_STALL_S: int(30, 86_400, 900),
    /** Longest wait for search to confirm a version's index before the document fails (reindex retries it). */
    DOCUMENT_INDEX_TIMEOUT_S: int(30, 7 * 86_400, 3_600),
    /** Where originals are copied for the parse worker while it reads them. */
    DOCUMENT_TMP_DIR: z.string().min(1).default(tmpdir()),
    /** Where originals are kept: `postgres` (schema ingest, parts of 1 MiB) or `s3` (any S3-compatible store). */
    BLOB_STORE: z.enum(['postgres', 's3']).default('postgres'),
    /** S3: endpoint of an S3-compatible server (empty: AWS for S3_REGION). */
    S3_ENDPOINT: urlVar(['http', 'https']).optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lowercase letters, digits, . and -)').optional(),
    /** Key prefix of originals in the bucket. */
    S3_PREFIX: z.string().max(512).default('documents/'),
    /** Path-style addressing (http://host/bucket/key), which most S3-compatible servers need. */
    S3_FORCE_PATH_STYLE: bool(true),
    /** With S3_SECRET_ACCESS_KEY; neither: the SDK's default credential chain (e.g. a pod's web identity). */
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    // The model that embeds the chunks (EMBEDDING_*; README "Configuration").
    ...embeddingConfigShape,
  })
  .superRefine((config, ctx) => {
    checkEmbeddingConfig(config, ctx);
    if (config.BLOB_STORE === 's3' && config.S3_BUCKET === undefined) ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'required when BLOB_STORE=s3' });
    if ((config.S3_ACCESS_KEY_ID === undefined) !== (config.S3_SECRET_ACCESS_KEY === undefined)) {
      ctx.addIssue({ code: 'custom', path: [config.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY'], message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are set together' });
    }
  });

export type Config = z.infer<typeof configSchema>;
