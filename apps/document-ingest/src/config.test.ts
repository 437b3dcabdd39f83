import { ConfigError, loadConfig } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.ts';

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(configSchema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('config', () => {
  it('has working defaults: 50 MiB, PostgreSQL originals, the local model', () => {
    const c = loadConfig(configSchema, {});
    expect(c).toMatchObject({ DOCUMENT_MAX_BYTES: 50 * 1024 * 1024, BLOB_STORE: 'postgres', EMBEDDING_PROVIDER: 'local', RPC_PORT: 50053, OPS_PORT: 9093 });
  });

  it('names each bad variable', () => {
    expect(problems({ DOCUMENT_MAX_BYTES: '0' }).join()).toContain('DOCUMENT_MAX_BYTES');
    expect(problems({ DOCUMENT_CONCURRENCY: 'many' }).join()).toContain('DOCUMENT_CONCURRENCY');
    expect(problems({ BLOB_STORE: 's3' })).toEqual(['S3_BUCKET: missing (required when BLOB_STORE=s3)']);
    expect(problems({ BLOB_STORE: 's3', S3_BUCKET: 'Bad_Bucket' }).join()).toContain('S3_BUCKET');
    expect(problems({ BLOB_STORE: 's3', S3_BUCKET: 'docs', S3_ACCESS_KEY_ID: 'id' })).toEqual(['S3_SECRET_ACCESS_KEY: missing (S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are set together)']);
    expect(problems({ EMBEDDING_PROVIDER: 'openai' }).join()).toContain('EMBEDDING_OPENAI_BASE_URL');
  });

  it('never echoes the S3 secret', () => {
    expect(problems({ BLOB_STORE: 's3', S3_SECRET_ACCESS_KEY: 'hunter2-s3-secret' }).join()).not.toContain('hunter2-s3-secret');
  });
});
