// `npm run test:corpus`: the SSRF corpus (CSDA_CORPUS_DIR/ssrf, see its README)
// through the api_call guard. Every payload must be refused with no dial to
// anything but this machine's sinkhole; every public control must pass the
// decision, which never connects.
//
// Names resolve through a table of the addresses they are known to resolve
// to (wildcard DNS such as nip.io decoded from the name); a name missing from
// the table fails the suite rather than being guessed. The "public
// redirectors" resolve to public addresses, and the dial hands every such
// connection to a local sinkhole server on 127.0.0.1 that answers the way
// the real redirector does: nothing is ever sent off this machine.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress } from '../src/address-policy.ts';
import { parseAllowList } from '../src/allow-list.ts';
import { EgressRefusedError } from '../src/errors.ts';
import type { Resolver } from '../src/guarded-connector.ts';
import { createHttpTool } from '../src/http-tool.ts';
import { checkToolDestination } from '../src/tool-policy.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
const corpusDir = resolve(repoRoot, process.env.CSDA_CORPUS_DIR ?? '../shared/corpus');
const ssrfDir = resolve(corpusDir, 'ssrf');

function lines(file: string): string[] {
  return readFileSync(resolve(ssrfDir, file), 'utf8')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

const targets = lines('targets.txt');
const controls = lines('public_controls.txt');
const groups = new Map<string, string>();
for (const line of readFileSync(resolve(ssrfDir, 'targets.jsonl'), 'utf8').split('\n')) {
  if (line.trim() === '') continue;
  const entry = JSON.parse(line) as { url: string; group: string };
  groups.set(entry.url, entry.group);
}

/** Public addresses the simulated public hosts resolve to: the only non-loopback addresses the dial may be handed, and it hands them to the sinkhole. */
const PUBLIC_NAMES: Record<string, string> = {
  'example.com': '93.184.215.14',
  'google.com': '142.250.185.78',
  'www.google.com': '142.250.185.78',
  '307.r3dir.me': '3.33.152.147',
  'ssrf.localdomain.pw': '185.199.108.153',
  'nicob.net': '91.121.171.20',
};
const LOCALHOST = ['127.0.0.1', '::1'];
const NAMED: Record<string, string[]> = {
  localtest: ['127.0.0.1'],
  'localtest.me': ['127.0.0.1'],
  'localh.st': ['127.0.0.1'],
  'metadata.google.internal': ['169.254.169.254'],
  metadata: ['169.254.169.254'],
  'metadata.goog': ['169.254.169.254'],
  'instance-data': ['169.254.169.254'],
  'instance-data.ec2.internal': ['169.254.169.254'],
  'metadata.tencentyun.com': ['169.254.0.23'],
  'rancher-metadata': ['169.254.169.250'],
  'kubernetes.default.svc': ['10.96.0.1'],
  'kubernetes.default': ['10.96.0.1'],
  // http://unix:/var/run/docker.sock — some clients read a socket on this host.
  unix: ['127.0.0.1'],
};

/** The addresses `name` is known to resolve to, or undefined (the suite then fails). */
function intendedAddresses(rawName: string): string[] | undefined {
  const name = rawName.toLowerCase().replace(/\.+$/, '');
  if (PUBLIC_NAMES[name]) return [PUBLIC_NAMES[name]];
  if (NAMED[name]) return NAMED[name];
  if (/^(localhost|localhost6|ip6-localhost|ip6-loopback)(\.localdomain6?)?$/.test(name) || name.endsWith('.localhost')) return LOCALHOST;
  const wildcard = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\.(nip\.io|sslip\.io)$/.exec(name);
  if (wildcard) return [wildcard[1] as string];
  const rbndr = /^([0-9a-f]{8})\.([0-9a-f]{8})\.rbndr\.us$/.exec(name);
  if (rbndr) return [rbndr[1] as string, rbndr[2] as string].map((hex) => [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.'));
  if (name.endsWith('.1u.ms')) return [...name.matchAll(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/g)].map((m) => m[0]);
  return undefined;
}

const unknownNames = new Set<string>();
const asked: string[] = [];
const corpusResolver: Resolver = async (host) => {
  asked.push(host);
  const addresses = intendedAddresses(host);
  if (!addresses) {
    unknownNames.add(host);
    throw Object.assign(new Error(`the corpus resolver has no address for ${host}`), { code: 'ENOTFOUND' });
  }
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
};

/** What the public redirectors answer (as documented by the corpus sources). */
function redirectorLocation(host: string, path: string): string | undefined {
  if (host === '307.r3dir.me') return new URL(path, 'http://x').searchParams.get('url') ?? undefined;
  const m = /(https?)-([\d.]+):(\d+)-/.exec(path);
  if (m) return `${m[1]}://${m[2]}:${m[3]}/`;
  return undefined;
}

let sinkholePort = 0;
const sinkholeRequests: string[] = [];
const sinkhole = createServer((req, res) => {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  sinkholeRequests.push(`${host}${req.url ?? ''}`);
  const location = redirectorLocation(host, req.url ?? '/');
  if (location) res.writeHead(host === '307.r3dir.me' ? 307 : 301, { location }).end();
  else res.writeHead(404).end();
});

const dialled: string[] = [];
const violations: string[] = [];
const publicAddresses = new Set(Object.values(PUBLIC_NAMES));

const tool = createHttpTool({
  operatorAllow: parseAllowList(''),
  resolver: corpusResolver,
  connector: (options, callback) => {
    dialled.push(options.hostname);
    if (!publicAddresses.has(options.hostname)) {
      violations.push(options.hostname);
      callback(new Error(`corpus harness refused to dial ${options.hostname}`), null);
      return;
    }
    // A simulated public host: the connection goes to the sinkhole on loopback, never to the address.
    const socket: Socket = connect({ host: '127.0.0.1', port: sinkholePort });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (err) => callback(err, null));
  },
});

beforeAll(async () => {
  await new Promise<void>((done) => sinkhole.listen(0, '127.0.0.1', done));
  sinkholePort = (sinkhole.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((done) => sinkhole.close(() => done()));
});

describe('SSRF corpus through the api_call guard (public-only policy: empty allow_hosts, empty TOOLS_HTTP_ALLOW)', () => {
  it('holds the documented counts', () => {
    expect(targets).toHaveLength(289);
    expect(controls).toHaveLength(28);
  });

  it('refuses every payload, dialling nothing but the sinkhole', async () => {
    const outcomes = new Map<string, number>();
    const byDecision = { url: 0, address: 0, redirect: 0 };
    const letThrough: string[] = [];
    for (const url of targets) {
      const dialsBefore = dialled.length;
      const err = await tool
        .call({ method: 'GET', url, toolAllowHosts: [], timeoutMs: 5_000, maxResponseBytes: 4_096, retries: 0 })
        .then(
          (res) => new Error(`answered ${res.status}`),
          (e: unknown) => e,
        );
      if (!(err instanceof EgressRefusedError)) {
        letThrough.push(`${url} [${groups.get(url) ?? '?'}]: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const key = `${err.reason}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      if (err.message.startsWith('redirect ')) byDecision.redirect += 1;
      else if (dialled.length > dialsBefore) letThrough.push(`${url}: refused after a dial`);
      else if (['scheme', 'userinfo', 'invalid_url'].includes(err.reason)) byDecision.url += 1;
      else byDecision.address += 1;
    }
    console.log(
      `ssrf corpus: ${targets.length} payloads, ${targets.length - letThrough.length} refused ` +
        `(${byDecision.url} by URL checks, ${byDecision.address} by address, ${byDecision.redirect} at a redirect hop); ` +
        `reasons ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}; sinkhole requests ${sinkholeRequests.length}`,
    );
    expect(letThrough).toEqual([]);
    expect(unknownNames).toEqual(new Set());
    expect(violations).toEqual([]);
    expect(byDecision.redirect).toBe(4);
  });

  it('accepts every public control in the decision (no connection)', async () => {
    const refused: string[] = [];
    for (const url of controls) {
      await checkToolDestination(url, { operatorAllow: parseAllowList(''), toolAllowHosts: [], resolver: corpusResolver }).catch((e: unknown) => {
        refused.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      });
    }
    console.log(`ssrf corpus: ${controls.length} public controls, ${controls.length - refused.length} accepted`);
    expect(refused).toEqual([]);
  });

  it('the decision function alone refuses every payload that does not need a redirect', async () => {
    let refused = 0;
    const passed: string[] = [];
    for (const url of targets) {
      const outcome = await checkToolDestination(url, { operatorAllow: parseAllowList(''), toolAllowHosts: [], resolver: corpusResolver }).then(
        () => 'passed',
        (e: unknown) => (e instanceof EgressRefusedError ? 'refused' : `failed: ${(e as Error).message}`),
      );
      if (outcome === 'refused') refused += 1;
      else passed.push(`${url} [${groups.get(url) ?? '?'}] ${outcome}`);
    }
    console.log(`ssrf corpus: checkToolDestination refuses ${refused}/${targets.length}; the rest are public redirectors`);
    expect(passed.every((p) => p.includes('[public-redirectors-to-internal] passed'))).toBe(true);
    expect(passed).toHaveLength(4);
  });

  it('sanity: the simulated public addresses are public, and loopback was never dialled', () => {
    for (const address of publicAddresses) expect(classifyAddress(address)).toBeUndefined();
    expect(dialled.every((d) => publicAddresses.has(d))).toBe(true);
  });
});
