import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobNotFoundError, type BlobStore } from './blob-store.ts';

export interface S3BlobStoreOptions {
  /** S3-compatible endpoint; undefined = AWS for `region`. */
  readonly endpoint?: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Prepended to every key. */
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** Static credentials; undefined = the SDK's default chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  /** Multipart part size (S3's minimum, 5 MiB, by default); one part is buffered at a time. */
  readonly partBytes?: number;
}

/**
 * Originals in an S3-compatible bucket. Uploads are multipart, one part in
 * memory at a time; a failed upload is aborted, so no parts stay behind.
 * Checksums only where the operation requires them: S3-compatible servers
 * differ in the newer flexible-checksum headers.
 */
export function createS3BlobStore(options: S3BlobStoreOptions): BlobStore & { close(): void } {
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  });
  const key = (k: string) => `${options.prefix}${k}`;
  return {
    kind: 's3',
    async put(k, source) {
      let size = 0;
      let sourceError: { error: unknown } | undefined;
      const counted = async function* () {
        try {
          for await (const piece of source) {
            size += piece.byteLength;
            yield piece;
          }
        } catch (error) {
          sourceError = { error };
          throw error;
        }
      };
      const upload = new Upload({
        client,
        params: { Bucket: options.bucket, Key: key(k), Body: Readable.from(counted()), ContentType: 'application/octet-stream' },
        partSize: options.partBytes ?? 5 * 1024 * 1024,
        queueSize: 1,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (err) {
        // The upload aborts itself; the caller wants the source's reason (a refused stream), not the abort's.
        throw sourceError ? sourceError.error : err;
      }
      return { sizeBytes: size };
    },
    async *read(k, opts = {}) {
      let body: Readable;
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: options.bucket, Key: key(k) }), { abortSignal: opts.signal });
        body = res.Body as Readable;
      } catch (err) {
        if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') throw new BlobNotFoundError('s3', k);
        throw err;
      }
      try {
        for await (const piece of body) yield piece as Buffer;
      } finally {
        body.destroy();
      }
    },
    async delete(k) {
      await client.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: key(k) }));
    },
    async check() {
      await client.send(new HeadBucketCommand({ Bucket: options.bucket }));
      return { ok: true, detail: `s3 bucket ${options.bucket}` };
    },
    close() {
      client.destroy();
    },
  };
}
