import { describe, expect, it } from 'vitest';
import { buildStack, connectHost, describeUrl, duplicatePorts, portFrom } from './config.ts';

describe('portFrom', () => {
  it('uses the default when unset or blank', () => {
    expect(portFrom({}, 'GATEWAY_PORT', 8080)).toBe(8080);
    expect(portFrom({ GATEWAY_PORT: ' ' }, 'GATEWAY_PORT', 8080)).toBe(8080);
  });
  it('reads a valid port', () => {
    expect(portFrom({ GATEWAY_PORT: '8081' }, 'GATEWAY_PORT', 8080)).toBe(8081);
  });
  it.each(['80x', '0', '65536', '-1', '1.5'])('rejects %s naming the variable', (v) => {
    expect(() => portFrom({ VAULT_OPS_PORT: v }, 'VAULT_OPS_PORT', 9091)).toThrow(/VAULT_OPS_PORT=.* is not a TCP port/);
  });
});

describe('connectHost', () => {
  it('maps wildcard binds to loopback', () => {
    expect(connectHost('0.0.0.0')).toBe('127.0.0.1');
    expect(connectHost('')).toBe('127.0.0.1');
    expect(connectHost('::')).toBe('[::1]');
  });
  it('brackets IPv6 and keeps the rest', () => {
    expect(connectHost('::1')).toBe('[::1]');
    expect(connectHost('127.0.0.1')).toBe('127.0.0.1');
  });
});

describe('describeUrl', () => {
  it('shows host:port and never credentials', () => {
    expect(describeUrl('postgres://u:secret@db.local:6543/csda', 5432)).toBe('db.local:6543');
    expect(describeUrl('redis://:pw@127.0.0.1', 6379)).toBe('127.0.0.1:6379');
    expect(describeUrl('nats://a:4222,nats://b:4222', 4222)).toBe('a:4222');
    expect(describeUrl('not a url', 1)).toBe('(unparsable URL)');
  });
});

describe('buildStack', () => {
  const stack = buildStack({ PATH: '/bin', RPC_PORT: '1', OPS_PORT: '2' }, '/repo/apps');
  const byName = (n: string) => {
    const s = stack.services.find((x) => x.name === n);
    if (!s) throw new Error(n);
    return s;
  };

  it('lists the six services, gateway last', () => {
    expect(stack.services.map((s) => s.name)).toEqual(['vault', 'tool-runner', 'document-ingest', 'search', 'scheduler', 'gateway']);
    expect(byName('search').entry).toBe('/repo/apps/search/src/main.ts');
  });

  it('gives each service its own ports and the contract defaults', () => {
    const vault = byName('vault');
    expect(vault.env).toMatchObject({
      RPC_PORT: '50051',
      OPS_PORT: '9091',
      PATH: '/bin',
      HOST: '127.0.0.1',
      NODE_ENV: 'development',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/csda',
      REDIS_URL: 'redis://127.0.0.1:6379',
      NATS_URL: 'nats://127.0.0.1:4222',
    });
    expect(vault.readyUrl).toBe('http://127.0.0.1:9091/readyz');
    expect(byName('scheduler').env.RPC_PORT).toBe('50055');
  });

  it('wires the gateway to the others and polls its REST port', () => {
    const gw = byName('gateway');
    expect(gw.env).toMatchObject({
      RPC_PORT: '50050',
      GATEWAY_PORT: '8080',
      VAULT_URL: 'http://127.0.0.1:50051',
      TOOL_RUNNER_URL: 'http://127.0.0.1:50052',
      DOCUMENT_INGEST_URL: 'http://127.0.0.1:50053',
      SEARCH_URL: 'http://127.0.0.1:50054',
      SCHEDULER_URL: 'http://127.0.0.1:50055',
    });
    expect(gw.env.OPS_PORT).toBeUndefined();
    expect(gw.readyUrl).toBe('http://127.0.0.1:8080/readyz');
    expect(stack.gatewayUrl).toBe('http://127.0.0.1:8080');
    expect(byName('vault').env.VAULT_URL).toBeUndefined();
  });

  it('wires the scheduler to the vault, the tool-runner (run_tool schedules), document-ingest (reindex_document schedules) and the gateway RPC port only', () => {
    const scheduler = byName('scheduler');
    expect(scheduler.env).toMatchObject({
      VAULT_URL: 'http://127.0.0.1:50051',
      TOOL_RUNNER_URL: 'http://127.0.0.1:50052',
      DOCUMENT_INGEST_URL: 'http://127.0.0.1:50053',
      GATEWAY_URL: 'http://127.0.0.1:50050',
    });
    expect(scheduler.env.SEARCH_URL).toBeUndefined();
    expect(byName('gateway').env.GATEWAY_URL).toBeUndefined();
  });

  it('applies per-service overrides and keeps explicit settings', () => {
    const s = buildStack(
      { SEARCH_RPC_PORT: '6000', SEARCH_OPS_PORT: '6001', GATEWAY_PORT: '8181', VAULT_URL: 'http://vault:1', HOST: '0.0.0.0', NODE_ENV: 'production' },
      '/a',
    );
    const search = s.services.find((x) => x.name === 'search');
    const gw = s.services.find((x) => x.name === 'gateway');
    expect(search?.env).toMatchObject({ RPC_PORT: '6000', OPS_PORT: '6001', NODE_ENV: 'production', HOST: '0.0.0.0' });
    expect(search?.readyUrl).toBe('http://127.0.0.1:6001/readyz');
    expect(search?.ports.map((p) => p.variable)).toEqual(['SEARCH_RPC_PORT', 'SEARCH_OPS_PORT']);
    expect(gw?.env).toMatchObject({ GATEWAY_PORT: '8181', VAULT_URL: 'http://vault:1', SEARCH_URL: 'http://127.0.0.1:6000' });
    expect(s.gatewayUrl).toBe('http://127.0.0.1:8181');
  });

  it('finds ports given twice', () => {
    expect(duplicatePorts(stack.services)).toEqual([]);
    const dup = duplicatePorts(buildStack({ SEARCH_OPS_PORT: '8080' }, '/a').services);
    expect(dup).toHaveLength(1);
    expect(dup[0]?.map((u) => u.variable)).toEqual(['SEARCH_OPS_PORT', 'GATEWAY_PORT']);
  });
});
