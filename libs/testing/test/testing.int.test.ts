import { describe, expect, it } from 'vitest';
import { createTestDatabase, query } from '../src/database.ts';
import { freePort, isListening } from '../src/ports.ts';

describe('test harness', () => {
  it('creates an isolated database with pgvector and drops it', async () => {
    const db = await createTestDatabase('harness');
    expect(db.name).toMatch(/^csda_t_harness_[0-9a-f]{8}$/);
    expect(await query(db.url, `select extname from pg_extension where extname = 'vector'`)).toHaveLength(1);
    await db.drop();
    await expect(query(db.url, 'select 1')).rejects.toThrow(/does not exist/);
  });

  it('finds free ports that nothing listens on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await isListening(port)).toBe(false);
  });
});
