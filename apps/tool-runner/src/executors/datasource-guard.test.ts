import { parseAllowList } from '@csda/net';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DatasourceRefusedError, guardDatasource } from './datasource-guard.ts';

// No connection is ever attempted: the resolver is a table and the dialler records the config.
const resolver = (table: Record<string, string[]>) => async (host: string) => (table[host] ?? []).map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));

describe('guardDatasource', () => {
  const none = parseAllowList('');
  it('refuses private, loopback, link-local/metadata and mapped addresses unless the operator allows them', async () => {
    const r = resolver({ 'db.internal': ['10.0.0.5'], 'rebind.example': ['93.184.216.34', '127.0.0.1'], 'meta.example': ['169.254.169.254'] });
    for (const url of ['postgres://u:p@10.0.0.5/db', 'postgres://u:p@db.internal/db', 'postgres://u:p@rebind.example/db', 'postgres://u:p@meta.example/db', 'postgres://u:p@[::ffff:127.0.0.1]/db', 'postgres://u:p@127.0.0.1/db']) {
      await expect(guardDatasource(url, { allow: none, resolver: r }), url).rejects.toBeInstanceOf(DatasourceRefusedError);
    }
    await expect(guardDatasource('mysql://u:p@db/x', { allow: none })).rejects.toThrow(/postgres/);
    await expect(guardDatasource('postgres:///db?host=/var/run/postgresql', { allow: none })).rejects.toThrow(/no host/);
    const message = await guardDatasource('postgres://u:secretpw@10.0.0.5/db', { allow: none, resolver: r }).catch((e: Error) => e.message);
    expect(message).toMatch(/10\.0\.0\.5/);
    expect(message).not.toContain('secretpw');
  });

  it('dials the checked address with the URL credentials and SNI from the name', async () => {
    const dialled: pg.ClientConfig[] = [];
    const connect = await guardDatasource('postgres://ro%40x:p%2Fw@db.example:6543/sales?sslmode=verify-full', {
      allow: none,
      resolver: resolver({ 'db.example': ['93.184.216.34'] }),
      dial: (c) => (dialled.push(c), {} as pg.Client),
    });
    connect({ connectionString: 'postgres://ignored', application_name: 'x' });
    expect(dialled[0]).toMatchObject({ host: '93.184.216.34', port: 6543, user: 'ro@x', password: 'p/w', database: 'sales', application_name: 'x', ssl: { rejectUnauthorized: true, servername: 'db.example' } });
    expect(dialled[0]).not.toHaveProperty('connectionString');
    const allowed = await guardDatasource('postgres://u:p@10.0.0.5/db', { allow: parseAllowList('10.0.0.0/8'), dial: (c) => (dialled.push(c), {} as pg.Client) });
    allowed({});
    expect(dialled[1]).toMatchObject({ host: '10.0.0.5', ssl: false });
  });
});
