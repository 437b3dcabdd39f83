import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';
import { describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import { checkedAddresses, createGuardedConnector, type EgressPolicy, type Resolver } from './guarded-connector.ts';

const policy = (allow = '', extra: Partial<EgressPolicy> = {}): EgressPolicy => ({
  allow: parseAllowList(allow),
  requireHttps: true,
  allowHttpForAllowListed: false,
  ...extra,
});

/** Runs the connector once with a dial that never opens anything: what would it dial, or why does it refuse? */
function connectOnce(hostname: string, deps: { policy: EgressPolicy; resolver: Resolver; dialResults?: (Error | null)[]; protocol?: string }) {
  const dialled: buildConnector.Options[] = [];
  const results = [...(deps.dialResults ?? [])];
  const fakeSocket = {} as Socket;
  const connector = createGuardedConnector({
    policy: deps.policy,
    resolver: deps.resolver,
    resolveTimeoutMs: 1_000,
    dial: (options, callback) => {
      dialled.push(options);
      const err = results.shift() ?? null;
      if (err) callback(err, null);
      else callback(null, fakeSocket);
    },
  });
  return new Promise<{ err: Error | null; dialled: buildConnector.Options[]; socket: unknown }>((resolve) => {
    connector({ hostname, host: `${hostname}:443`, protocol: deps.protocol ?? 'https:', port: '443' }, (err, socket) => resolve({ err, dialled, socket }));
  });
}

const fixed =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);

describe('createGuardedConnector', () => {
  it('checks IP-literal hosts itself (no lookup happens for them) and never dials a refused one', async () => {
    const resolver: Resolver = async () => {
      throw new Error('must not resolve a literal');
    };
    for (const hostname of ['10.0.0.1', '169.254.169.254', '::1', '::ffff:7f00:1', 'fd00:ec2::254', '2002:a00:1::']) {
      const { err, dialled } = await connectOnce(hostname, { policy: policy(), resolver });
      expect(err).toBeInstanceOf(EgressRefusedError);
      expect(dialled).toEqual([]);
    }
  });

  it('dials a checked public address by IP, keeping the name for TLS', async () => {
    const { err, dialled } = await connectOnce('hooks.example', { policy: policy(), resolver: fixed('93.184.215.14') });
    expect(err).toBeNull();
    expect(dialled).toHaveLength(1);
    expect(dialled[0]).toMatchObject({ hostname: '93.184.215.14', servername: 'hooks.example', protocol: 'https:', port: '443' });
  });

  it('dials an IPv6 literal as it is, with no servername', async () => {
    const { err, dialled } = await connectOnce('2606:4700:4700::1111', { policy: policy(), resolver: fixed() });
    expect(err).toBeNull();
    expect(dialled[0]?.hostname).toBe('2606:4700:4700::1111');
    expect(dialled[0]?.servername).toBeUndefined();
  });

  it('refuses the whole answer when any address is refused', async () => {
    const { err, dialled } = await connectOnce('hooks.example', { policy: policy(), resolver: fixed('93.184.215.14', '2606:4700:4700::1111', '192.168.0.10') });
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect((err as EgressRefusedError).reason).toBe('private');
    expect(dialled).toEqual([]);
  });

  it('tries the next checked address when one is unreachable, and only checked ones', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { err, dialled } = await connectOnce('hooks.example', {
      policy: policy(),
      resolver: fixed('93.184.215.14', '93.184.215.15'),
      dialResults: [refused, null],
    });
    expect(err).toBeNull();
    expect(dialled.map((d) => d.hostname)).toEqual(['93.184.215.14', '93.184.215.15']);
  });

  it('does not try another address after a TLS failure', async () => {
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const { err, dialled } = await connectOnce('hooks.example', { policy: policy(), resolver: fixed('93.184.215.14', '93.184.215.15'), dialResults: [tls] });
    expect(err).toBe(tls);
    expect(dialled).toHaveLength(1);
  });

  it('reports resolver failures as connection errors without dialling', async () => {
    const broken: Resolver = () => {
      throw new Error('synchronous resolver bug');
    };
    const { err, dialled } = await connectOnce('hooks.example', { policy: policy(), resolver: broken });
    expect(err).toBeInstanceOf(HttpRequestError);
    expect((err as HttpRequestError).kind).toBe('connection');
    expect(dialled).toEqual([]);
  });
});

describe('checkedAddresses', () => {
  const deps = (p: EgressPolicy, resolver: Resolver) => ({ policy: p, resolver, resolveTimeoutMs: 1_000 });

  it('resolves once and returns every address when all pass', async () => {
    let calls = 0;
    const resolver: Resolver = async () => {
      calls += 1;
      return [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ];
    };
    await expect(checkedAddresses(deps(policy(), resolver), 'hooks.example', 'https:')).resolves.toHaveLength(2);
    expect(calls).toBe(1);
  });

  it('passes allow-listed private destinations by name or by CIDR', async () => {
    await expect(checkedAddresses(deps(policy('hooks.internal'), fixed('10.0.0.7')), 'hooks.internal', 'https:')).resolves.toEqual([{ address: '10.0.0.7', family: 4 }]);
    await expect(checkedAddresses(deps(policy('10.0.0.0/24'), fixed('10.0.0.7')), 'anything.example', 'https:')).resolves.toHaveLength(1);
    await expect(checkedAddresses(deps(policy('10.0.0.0/24'), fixed('10.0.0.7', '10.0.1.7')), 'anything.example', 'https:')).rejects.toBeInstanceOf(EgressRefusedError);
  });

  it('enforces plain-http rules per address', async () => {
    const http = (allow: string, extra: Partial<EgressPolicy>, ...answers: string[]) =>
      checkedAddresses(deps(policy(allow, extra), fixed(...answers)), 'receiver.example', 'http:');
    await expect(http('10.0.0.0/8', {}, '10.0.0.7')).rejects.toMatchObject({ reason: 'insecure_http' });
    await expect(http('10.0.0.0/8', { allowHttpForAllowListed: true }, '10.0.0.7')).resolves.toHaveLength(1);
    await expect(http('receiver.example', { allowHttpForAllowListed: true }, '10.0.0.7')).resolves.toHaveLength(1);
    await expect(http('10.0.0.0/8', { allowHttpForAllowListed: true }, '10.0.0.7', '93.184.215.14')).rejects.toMatchObject({ reason: 'insecure_http' });
    await expect(http('', { requireHttps: false }, '93.184.215.14')).resolves.toHaveLength(1);
    await expect(http('', { requireHttps: false }, '10.0.0.7')).rejects.toMatchObject({ reason: 'private' });
  });
});
