import { parseKeyring } from '@csda/crypto';
import { describe, expect, it } from 'vitest';
import { keyringCheck } from './keyring.ts';

const keyring = parseKeyring(JSON.stringify({ active: 'keyB', keys: { keyB: Buffer.alloc(32, 7).toString('base64') } }));

function harness(stored: string[][]) {
  let clock = 0;
  let lookups = 0;
  const logs: { level: string; obj: unknown; msg?: string }[] = [];
  const logger = {
    error: (obj: unknown, msg?: string) => void logs.push({ level: 'error', obj, msg }),
    info: (obj: unknown, msg?: string) => void logs.push({ level: 'info', obj, msg }),
  } as never;
  const check = keyringCheck({
    keyring,
    logger,
    refreshMs: 1_000,
    now: () => clock,
    usage: () => ({
      keyIdsInUse: async () => {
        const ids = stored[Math.min(lookups, stored.length - 1)]!;
        lookups++;
        if (ids[0] === 'DB DOWN') throw new Error('connection refused');
        return ids;
      },
      versionsUnder: async (ids) => ids.length * 10,
    }),
  });
  return { check, logs, lookups: () => lookups, advance: (ms: number) => (clock += ms) };
}

describe('keyring readiness check', () => {
  it('fails naming the missing key ids, and logs them once with the count', async () => {
    const h = harness([['keyA', 'keyB', 'old-1']]);
    const first = await h.check();
    expect(first).toEqual({ ok: false, detail: 'stored versions use key id(s) missing from VAULT_KEYRING: keyA, old-1' });
    h.advance(1_000);
    await h.check();
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]).toMatchObject({ level: 'error', obj: { missing_key_ids: ['keyA', 'old-1'], missing_key_count: 2, versions_affected: 20 } });
    expect(JSON.stringify(h.logs)).not.toContain(Buffer.alloc(32, 7).toString('base64'));
  });

  it('looks the stored key ids up once per refresh interval, however often it is probed', async () => {
    const h = harness([['keyB']]);
    await Promise.all(Array.from({ length: 20 }, () => h.check()));
    for (let i = 0; i < 10; i++) expect(await h.check()).toEqual({ ok: true });
    expect(h.lookups()).toBe(1);
    h.advance(1_000);
    await h.check();
    expect(h.lookups()).toBe(2);
    expect(h.logs).toEqual([]);
  });

  it('follows changes: logs again when the missing set changes, and once when it recovers', async () => {
    const h = harness([['keyA', 'keyB'], ['keyA', 'keyC'], ['keyB']]);
    expect((await h.check()).ok).toBe(false);
    h.advance(1_000);
    expect((await h.check()).detail).toContain('keyA, keyC');
    h.advance(1_000);
    expect(await h.check()).toEqual({ ok: true });
    expect(h.logs.map((l) => l.level)).toEqual(['error', 'error', 'info']);
  });

  it('retries a failed lookup on the next probe instead of caching the failure', async () => {
    const h = harness([['DB DOWN'], ['keyB']]);
    await expect(h.check()).rejects.toThrow('connection refused');
    expect(await h.check()).toEqual({ ok: true });
    expect(h.lookups()).toBe(2);
  });
});
