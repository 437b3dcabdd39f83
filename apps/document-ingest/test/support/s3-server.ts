// A real S3-compatible server for the tests: s3rver (npm) speaks the S3 REST
// protocol (SigV4, multipart uploads) on 127.0.0.1, storing objects in a
// temporary directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface TestS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** BLOB_STORE=s3 and the S3_* settings pointing at this server. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(bucket = 'csda-documents'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'csda-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver's fixed development credentials.
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  return {
    endpoint,
    bucket,
    credentials,
    env: () => ({ BLOB_STORE: 's3', S3_ENDPOINT: endpoint, S3_BUCKET: bucket, S3_ACCESS_KEY_ID: credentials.accessKeyId, S3_SECRET_ACCESS_KEY: credentials.secretAccessKey, S3_PREFIX: 'originals/' }),
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
