import type { EntityManager } from '@mikro-orm/postgresql';
import type { HealthState, Lifecycle, Logger } from '@csda/service-kit';
import type { Config } from '../config.ts';
import type { BlobStore, BlobStoreKind } from './blob-store.ts';
import { createPostgresBlobStore } from './postgres-blob-store.ts';
import { createS3BlobStore } from './s3-blob-store.ts';

export interface BlobStores {
  /** Where new originals go (BLOB_STORE). */
  readonly current: BlobStore;
  /** The store a document names (documents keep theirs when BLOB_STORE changes; s3 ones need the S3_* settings). */
  readonly of: (kind: BlobStoreKind) => BlobStore;
  readonly sweepIncomplete: (olderThanMs: number) => Promise<number>;
}

/** The PostgreSQL store always (same database), the S3 one when configured; readiness checks the current one. */
export function openBlobStores(
  runtime: { readonly orm: { em: { fork(): unknown } }; readonly lifecycle: Pick<Lifecycle, 'defer'>; readonly health: Pick<HealthState, 'addCheck'>; readonly logger: Logger },
  config: Config,
): BlobStores {
  const postgres = createPostgresBlobStore(() => runtime.orm.em.fork() as EntityManager);
  const s3 =
    config.S3_BUCKET !== undefined
      ? createS3BlobStore({
          endpoint: config.S3_ENDPOINT,
          region: config.S3_REGION,
          bucket: config.S3_BUCKET,
          prefix: config.S3_PREFIX,
          forcePathStyle: config.S3_FORCE_PATH_STYLE,
          credentials: config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY } : undefined,
        })
      : undefined;
  if (s3) runtime.lifecycle.defer('s3 client', async () => s3.close());
  const current = config.BLOB_STORE === 's3' ? s3! : postgres;
  runtime.health.addCheck('blob store', () => current.check());
  runtime.logger.info({ blob_store: current.kind }, 'originals are stored in this blob store');
  return {
    current,
    of(kind) {
      if (kind === 'postgres') return postgres;
      if (!s3) throw new Error('this document\'s original is in S3, but S3_BUCKET is not configured');
      return s3;
    },
    sweepIncomplete: (ms) => postgres.sweepIncomplete(ms),
  };
}
