// `npm run bench -- cache`: the gateway's response cache on the real stack.
// Two gateways share the same services and data: the stack's (cache on) and a
// second one with CACHE_ENABLED=false (off). Document list, tool list and a
// hybrid search on repeated hits through each (p50/p95, throughput, on/off
// ratios); then a skewed mix (Zipf users and queries, list/search/detail reads,
// ~3% writes by owners) with the hit ratio from /api/v1/cache/stats and from
// x-cache, and a read-your-write check after every acknowledged write.
// Own isolated stack; prints figures and whether each target is met, asserts nothing.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { cpus } from 'node:os';
import { Redis } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, freePort, natsUrl, query, spawnService, startStack, testNamespace, waitFor, type RunningService } from '@csda/testing';
import { createJsonClient, fmt, percentile, runAll, runLoad, type LoadResult } from './load.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const RUN_MS = Number(process.env.BENCH_SECONDS ?? 8) * 1000;
const MIX_MS = Number(process.env.BENCH_MIX_SECONDS ?? 20) * 1000;
const WRITE_SHARE = Number(process.env.BENCH_WRITE_SHARE ?? 0.03);
const ZIPF_S = 1.1;
const USERS = 10;
const DOCUMENTS = 40;
const TOOLS = 20;
const QUERIES = 50;
/** Repeated-hit runs: each user asks the same few searches, all cached beforehand. */
const HOT_QUERIES = 5;
const PASSWORD = 'bench-user-password-0123456789';
const ROLE = 'ANALYST';
const WORDS = ['harbor', 'glacier', 'lantern', 'meadow', 'copper', 'falcon', 'orchard', 'canyon', 'velvet', 'ember', 'prairie', 'quartz', 'willow', 'saffron', 'tundra', 'beacon', 'cobalt', 'juniper', 'lagoon', 'marble', 'nectar', 'obsidian', 'pepper', 'reef'];

/** A seeded PRNG (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Ranks 0..n-1 drawn with P(k) ∝ 1 / (k + 1)^s (rank 0 the most frequent), by inverse CDF. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`zipf needs n ≥ 1, got ${n}`);
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf.push((sum += 1 / k ** s));
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

interface Reply {
  readonly status: number;
  readonly xCache: string;
  readonly text: string;
}

/** Like load.ts's JSON client, but keeps the status and x-cache and leaves parsing to the caller. */
function createRawClient(baseUrl: string, sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const url = new URL(baseUrl);
  const call = (method: string, path: string, token: string, body?: unknown): Promise<Reply> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { agent, host: url.hostname, port: url.port, method, path, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, xCache: String(res.headers['x-cache'] ?? 'none'), text: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  };
  /** The JSON body of a 2xx answer; anything else throws with the status. */
  const ok = async (method: string, path: string, token: string, body?: unknown): Promise<{ json: Record<string, unknown>; xCache: string }> => {
    const r = await call(method, path, token, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return { json: JSON.parse(r.text) as Record<string, unknown>, xCache: r.xCache };
  };
  return { call, ok, close: () => agent.destroy() };
}
type RawClient = ReturnType<typeof createRawClient>;

/** x-cache values seen, per family. */
type Tally = Map<string, Record<string, number>>;
const tallyOf = (tally: Tally, family: string, xCache: string) => {
  const t = tally.get(family) ?? {};
  t[xCache] = (t[xCache] ?? 0) + 1;
  tally.set(family, t);
};
const hitShare = (t: Record<string, number> | undefined) => {
  const total = Object.values(t ?? {}).reduce((a, b) => a + b, 0);
  return total === 0 ? NaN : (t?.hit ?? 0) / total;
};
const pct = (x: number) => (Number.isNaN(x) ? '—' : `${fmt(100 * x, 1)}%`);

interface Doc {
  readonly id: string;
  readonly owner: number;
  readonly title: string;
  readonly access: 'public' | 'shared' | 'private';
}
interface Tool {
  readonly id: string;
  readonly owner: number;
  readonly access: 'public' | 'shared' | 'private';
}

export async function benchCache(): Promise<void> {
  const started = performance.now();
  const namespace = testNamespace();
  const db = await createTestDatabase('bench_cache');
  let off: RunningService | undefined;
  const closers: (() => void)[] = [];
  try {
    process.stdout.write('starting the stack and a second gateway with CACHE_ENABLED=false…\n');
    const stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', NATS_URL: natsUrl() }, readyTimeoutMs: 120_000 });
    try {
      const offPort = await freePort();
      off = spawnService('gateway', { ...stack.envFor('gateway'), CACHE_ENABLED: 'false', OPS_PORT: String(await freePort()) }, await freePort(), offPort);
      const offUrl = `http://127.0.0.1:${offPort}`;
      await waitFor(async () => (await fetch(`${offUrl}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: `cache-off gateway ready\n${off.logs()}` });
      const onClient = createRawClient(stack.gatewayUrl, CONCURRENCY);
      const offClient = createRawClient(offUrl, CONCURRENCY);
      const json = await createJsonClient(stack.gatewayUrl, 8);
      const redis = new Redis(6379, '127.0.0.1');
      closers.push(onClient.close, offClient.close, json.close, () => redis.disconnect());
      /** The epoch counter: bumped by a gateway each time it uses Redis again after declaring it down (every entry of every replica invalidated). */
      const epochNow = async () => Number((await redis.get(`${namespace}:cache:gen:epoch`)) ?? 0);
      const login = async (username: string, password: string) => (await json.call('POST', '/api/v1/auth/login', undefined, { username, password }))!.access_token as string;

      // ---- seed: users (some holding a role), documents (public / shared with the role / private), tools
      const seedStart = performance.now();
      const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
      await query(db.url, `insert into identity.roles (name, description, permissions) select '${ROLE}', 'bench role', permissions from identity.roles where name = 'USER'`);
      const analyst = (u: number) => u % 2 === 1;
      const tokens: string[] = [];
      for (let u = 0; u < USERS; u++) {
        const id = (await json.call('POST', '/api/v1/users', admin, { username: `bench${u}`, email: `bench${u}@example.test`, password: PASSWORD }))!.id as string;
        if (analyst(u)) await json.call('PUT', `/api/v1/users/${id}/roles`, admin, { roles: ['USER', ROLE] });
        tokens.push(await login(`bench${u}`, PASSWORD));
      }
      const docs: Doc[] = [];
      await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          for (let i = u; i < DOCUMENTS; i += USERS) {
            const access = i % 5 === 0 ? 'public' : i % 5 === 1 ? 'shared' : 'private';
            const title = `note-${i}`;
            const form = new FormData();
            form.set('title', title);
            if (access === 'public') form.set('is_public', 'true');
            if (access === 'shared') form.set('shared_with_roles', ROLE);
            const text = `Note ${i} about the ${WORDS[i % 24]} and the ${WORDS[(i * 7 + 3) % 24]} by the ${WORDS[(i * 11 + 5) % 24]}. Reference ${randomBytes(4).toString('hex')}.`;
            form.set('file', new Blob([text], { type: 'text/plain' }), `${title}.txt`);
            const res = await fetch(`${stack.gatewayUrl}/api/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${tokens[u]}` }, body: form });
            const body = (await res.json()) as { id: string };
            if (res.status !== 202) throw new Error(`upload ${title}: ${res.status} ${JSON.stringify(body)}`);
            docs.push({ id: body.id, owner: u, title, access });
          }
        }),
      );
      for (const d of docs) {
        await waitFor(
          async () => {
            const status = (await offClient.ok('GET', `/api/v1/documents/${d.id}`, tokens[d.owner]!)).json.status;
            if (status === 'failed') throw new Error(`document ${d.title} failed`);
            return status === 'ready';
          },
          { timeoutMs: 180_000, intervalMs: 250, what: `document ${d.title} ready` },
        );
      }
      const tools: Tool[] = [];
      await runAll(TOOLS, 4, async (i) => {
        const access = i % 4 === 0 ? 'public' : i % 4 === 1 ? 'shared' : 'private';
        const owner = i % USERS;
        const body = { name: `tool-${i}`, tool_type: 'python_script', description: `tool ${i}`, config: { code: 'print(1)' }, is_public: access === 'public', shared_with_roles: access === 'shared' ? [ROLE] : [] };
        tools.push({ id: (await onClient.ok('POST', '/api/v1/tools', tokens[owner]!, body)).json.id as string, owner, access });
      });
      const seedSeconds = (performance.now() - seedStart) / 1000;
      const sees = (u: number, r: { owner: number; access: string }) => r.owner === u || r.access === 'public' || (r.access === 'shared' && analyst(u));
      const visibleDocs = tokens.map((_, u) => docs.filter((d) => sees(u, d)));
      const visibleTools = tokens.map((_, u) => tools.filter((t) => sees(u, t)));
      const queries = Array.from({ length: QUERIES }, (_, j) => `${WORDS[j % 24]} ${WORDS[(j + 1 + 5 * Math.floor(j / 24)) % 24]}`);
      const searchBody = (q: string) => ({ query: q, mode: 'hybrid' });

      // ---- repeated hits: the same requests through each gateway (the cached one warmed first)
      const endpoints = [
        { name: 'document list', family: 'documents', keys: USERS, send: (c: RawClient, i: number) => c.call('GET', '/api/v1/documents', tokens[i % USERS]!) },
        { name: 'tool list', family: 'tools', keys: USERS, send: (c: RawClient, i: number) => c.call('GET', '/api/v1/tools', tokens[i % USERS]!) },
        { name: 'hybrid search', family: 'search', keys: USERS * HOT_QUERIES, send: (c: RawClient, i: number) => c.call('POST', '/api/v1/search', tokens[i % USERS]!, searchBody(queries[Math.floor(i / USERS) % HOT_QUERIES]!)) },
      ];
      const hits: { name: string; on: LoadResult; off: LoadResult; onHitShare: number }[] = [];
      const epochBeforeHits = await epochNow();
      for (const e of endpoints) {
        const tally: Tally = new Map();
        const task = (c: RawClient, count: boolean) => async (i: number) => {
          const r = await e.send(c, i);
          if (r.status !== 200) throw new Error(`${e.name}: ${r.status} ${r.text.slice(0, 160)}`);
          if (count) tallyOf(tally, e.family, r.xCache);
        };
        process.stdout.write(`${e.name}: ${CONCURRENCY} clients × ${RUN_MS / 1000} s, cache on then off…\n`);
        await runAll(e.keys, 1, task(onClient, false));
        await runLoad(CONCURRENCY, 1_000, task(onClient, false));
        const on = await runLoad(CONCURRENCY, RUN_MS, task(onClient, true));
        await runLoad(CONCURRENCY, 1_000, task(offClient, false));
        const offRun = await runLoad(CONCURRENCY, RUN_MS, task(offClient, false));
        hits.push({ name: e.name, on, off: offRun, onHitShare: hitShare(tally.get(e.family)) });
      }

      // ---- the skewed mix with interleaved writes and read-your-write checks
      const mix = (c: RawClient, writeShare: number, tally: Tally, checks: { reads: number; stale: number; checkHits: number; writes: number; examples: string[]; ackToRead: number[] }) => {
        const random = seededRandom(0x5eed);
        const user = zipfSampler(USERS, ZIPF_S, random);
        const queryRank = zipfSampler(QUERIES, ZIPF_S, random);
        const docRank = visibleDocs.map((seen) => zipfSampler(seen.length, ZIPF_S, random));
        const busy = new Set<string>();
        let revision = 0;
        const read = async (family: string, method: string, path: string, token: string, body?: unknown) => {
          const r = await c.ok(method, path, token, body);
          tallyOf(tally, family, r.xCache);
          return r;
        };
        /** One reading after an acknowledged write: it must show the new value. */
        const check = (what: string, shown: unknown, expected: string, xCache: string) => {
          checks.reads++;
          if (xCache === 'hit') checks.checkHits++;
          if (shown !== expected) {
            checks.stale++;
            if (checks.examples.length < 5) checks.examples.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(shown)} (x-cache ${xCache})`);
          }
        };
        const write = async (u: number): Promise<boolean> => {
          const token = tokens[u]!;
          const doc = random() < 0.5;
          const candidates = (doc ? docs : tools).filter((r) => r.owner === u && !busy.has(r.id));
          const target = candidates[Math.floor(random() * candidates.length)];
          if (!target) return false;
          busy.add(target.id);
          try {
            const value = `${doc ? (target as Doc).title : 'description'} rev ${++revision}`;
            const family = doc ? 'documents' : 'tools';
            const field = doc ? 'title' : 'description';
            const base = doc ? '/api/v1/documents' : '/api/v1/tools';
            const t0 = performance.now();
            const ack = await c.ok('PATCH', `${base}/${target.id}`, token, { [field]: value });
            checks.writes++;
            if (ack.json[field] !== value) throw new Error(`PATCH ${base}/${target.id} answered ${field} ${JSON.stringify(ack.json[field])}`);
            checks.ackToRead.push(performance.now() - t0);
            const detail = await read(family, 'GET', `${base}/${target.id}`, token);
            check(`${family} detail ${target.id}`, detail.json[field], value, detail.xCache);
            const list = await read(family, 'GET', base, token);
            const item = (list.json.items as Record<string, unknown>[]).find((x) => x.id === target.id);
            check(`${family} list (${target.id})`, item?.[field], value, list.xCache);
          } finally {
            busy.delete(target.id);
          }
          return true;
        };
        return async () => {
          const u = user();
          const token = tokens[u]!;
          if (random() < writeShare && (await write(u))) return;
          const r = random();
          if (r < 0.3) await read('documents', 'GET', '/api/v1/documents', token);
          else if (r < 0.5) await read('tools', 'GET', '/api/v1/tools', token);
          else if (r < 0.8) await read('search', 'POST', '/api/v1/search', token, searchBody(queries[queryRank()]!));
          else if (r < 0.92) {
            await read('documents', 'GET', `/api/v1/documents/${visibleDocs[u]![docRank[u]!()]!.id}`, token);
          } else {
            const seen = visibleTools[u]!;
            if (seen.length === 0) return;
            await read('tools', 'GET', `/api/v1/tools/${seen[Math.floor(random() * seen.length)]!.id}`, token);
          }
        };
      };
      const familyTotals = async () => {
        const families = (await onClient.ok('GET', '/api/v1/cache/stats', admin)).json.families as Record<string, { hits: number; misses: number; stale_avoided: number; errors: number; bypassed: number }>;
        return families;
      };
      // Each replica adds its figures to Redis every second.
      const settle = () => new Promise((r) => setTimeout(r, 1_500));
      await settle();
      const before = await familyTotals();
      const epochBeforeMix = await epochNow();
      const newChecks = () => ({ reads: 0, stale: 0, checkHits: 0, writes: 0, examples: [] as string[], ackToRead: [] as number[] });
      const onTally: Tally = new Map();
      const onChecks = newChecks();
      process.stdout.write(`Zipf mix (s=${ZIPF_S}, ${USERS} users, ${QUERIES} queries, ${fmt(100 * WRITE_SHARE, 0)}% writes): ${CONCURRENCY} clients, cache on ${MIX_MS / 1000} s, then reads only (cache on) and cache off ${MIX_MS / 2000} s each…\n`);
      const mixOn = await runLoad(CONCURRENCY, MIX_MS, mix(onClient, WRITE_SHARE, onTally, onChecks));
      await settle();
      const after = await familyTotals();
      const epochAfterMix = await epochNow();
      // The same mix without writes, for what the writes cost the hit ratio.
      const readsTally: Tally = new Map();
      const readsOnly = await runLoad(CONCURRENCY, MIX_MS / 2, mix(onClient, 0, readsTally, newChecks()));
      const readsXCache: Record<string, number> = {};
      for (const t of readsTally.values()) for (const [k, v] of Object.entries(t)) readsXCache[k] = (readsXCache[k] ?? 0) + v;
      const offChecks = newChecks();
      const mixOff = await runLoad(CONCURRENCY, MIX_MS / 2, mix(offClient, WRITE_SHARE, new Map(), offChecks));

      // ---- figures
      const delta = (f: string) => {
        const h = (after[f]?.hits ?? 0) - (before[f]?.hits ?? 0);
        const m = (after[f]?.misses ?? 0) - (before[f]?.misses ?? 0);
        const since = (k: 'stale_avoided' | 'errors' | 'bypassed') => (after[f]?.[k] ?? 0) - (before[f]?.[k] ?? 0);
        return { hits: h, misses: m, ratio: h + m === 0 ? NaN : h / (h + m), staleAvoided: since('stale_avoided'), errors: since('errors'), bypassed: since('bypassed') };
      };
      const mixFamilies = ['documents', 'tools', 'search'];
      const all = mixFamilies.map(delta).reduce((a, b) => ({ hits: a.hits + b.hits, misses: a.misses + b.misses, ratio: NaN, staleAvoided: a.staleAvoided + b.staleAvoided, errors: a.errors + b.errors, bypassed: a.bypassed + b.bypassed }));
      const onLogs = stack.services.gateway.logs();
      const loggedLines = (text: string) => onLogs.split('\n').filter((l) => l.includes(text));
      const logged = (text: string) => loggedLines(text).length;
      /** Why the gateway declared Redis down, by reason (pino JSON lines). */
      const downReasons = new Map<string, number>();
      for (const line of loggedLines('cache bypassed: redis unavailable')) {
        let reason = 'unparsed log line';
        try {
          reason = String((JSON.parse(line) as { reason?: unknown }).reason);
        } catch {
          // Not JSON: counted as unparsed.
        }
        downReasons.set(reason, (downReasons.get(reason) ?? 0) + 1);
      }
      const totalXCache: Record<string, number> = {};
      for (const t of onTally.values()) for (const [k, v] of Object.entries(t)) totalXCache[k] = (totalXCache[k] ?? 0) + v;
      const ackToRead = [...onChecks.ackToRead].sort((a, b) => a - b);
      const cell = (r: LoadResult) => `${fmt(r.perSecond, 0).padStart(7)} ${fmt(r.p50, 1).padStart(7)} ${fmt(r.p95, 1).padStart(7)}`;
      const ratios = (on: LoadResult, o: LoadResult) => `${fmt(on.perSecond / o.perSecond, 1).padStart(6)}× ${fmt(o.p50 / on.p50, 1).padStart(6)}× ${fmt(o.p95 / on.p95, 1).padStart(6)}×`;
      const errors = (on: LoadResult, o: LoadResult) => (on.errors + o.errors === 0 ? '' : `  errors on ${on.errors} off ${o.errors} (first: ${(on.firstError ?? o.firstError ?? '').slice(0, 160)})`);
      const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
      const lines = [
        '',
        `cache benchmark — node ${process.version}, ${cpus().length} cores, ${CONCURRENCY} concurrent clients, ${RUN_MS / 1000} s per run; seeded ${USERS} users, ${DOCUMENTS} documents, ${TOOLS} tools in ${fmt(seedSeconds, 0)} s`,
        `${''.padEnd(30)} ${'cache on'.padEnd(23)} ${'cache off'.padEnd(23)} on/off`,
        `${''.padEnd(30)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'thrpt'.padStart(7)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}  x-cache hit (on)`,
        ...hits.map((h) => `${`${h.name} (repeated hits)`.padEnd(30)} ${cell(h.on)} ${cell(h.off)} ${ratios(h.on, h.off)}  ${pct(h.onHitShare)}${errors(h.on, h.off)}`),
        `${`Zipf mix, ${fmt(100 * WRITE_SHARE, 0)}% writes`.padEnd(30)} ${cell(mixOn)} ${cell(mixOff)} ${ratios(mixOn, mixOff)}  ${pct(hitShare(totalXCache))}${errors(mixOn, mixOff)}`,
        `${'Zipf mix, reads only'.padEnd(30)} ${cell(readsOnly)} ${'(not run)'.padEnd(23)} ${''.padEnd(23)}  ${pct(hitShare(readsXCache))} — ${mixFamilies.map((f) => `${f} ${pct(hitShare(readsTally.get(f)))}`).join(', ')}${readsOnly.errors ? `  errors ${readsOnly.errors} (first: ${(readsOnly.firstError ?? '').slice(0, 160)})` : ''}`,
        `mix hit ratio, /api/v1/cache/stats: ${pct(all.hits / (all.hits + all.misses))} (${all.hits} hits, ${all.misses} misses, ${all.staleAvoided} stale reads avoided, ${all.errors} Redis errors, ${all.bypassed} bypassed) — ${mixFamilies.map((f) => `${f} ${pct(delta(f).ratio)}`).join(', ')}`,
        `mix hit ratio, x-cache:             ${pct(hitShare(totalXCache))} (${Object.entries(totalXCache).map(([k, v]) => `${k} ${v}`).join(', ')}) — ${mixFamilies.map((f) => `${f} ${pct(hitShare(onTally.get(f)))}`).join(', ')}`,
        `mix writes (cache on): ${onChecks.writes} acknowledged (${fmt(onChecks.writes / mixOn.seconds, 1)}/s), ${onChecks.reads} read-your-write reads (${onChecks.checkHits} of them hits), write→read p50 ${fmt(percentile(ackToRead, 0.5), 1)} ms p95 ${fmt(percentile(ackToRead, 0.95), 1)} ms`,
        `stale reads after an acknowledged write: cache on ${onChecks.stale} of ${onChecks.reads}, cache off ${offChecks.stale} of ${offChecks.reads}${onChecks.examples.length ? `\n  ${onChecks.examples.join('\n  ')}` : ''}`,
        `cache Redis declared down by the cached gateway (a call over CACHE_REDIS_TIMEOUT_MS or an error; bypassed ≥ 1 s; an epoch bump follows only after a failed bump or a dropped connection): ${logged('cache bypassed: redis unavailable')} times in the run${downReasons.size ? ` (${[...downReasons].map(([r, n]) => `${n}× ${r}`).join('; ')})` : ''}; ` +
          `epoch bumps during the repeated-hit runs ${epochBeforeMix - epochBeforeHits}, during the mix ${epochAfterMix - epochBeforeMix}; write bumps that failed ${logged('cache not invalidated by this write')}`,
        `targets: ≥ 5× throughput on hits → ${hits.map((h) => `${h.name} ${fmt(h.on.perSecond / h.off.perSecond, 1)}× ${met(h.on.perSecond >= 5 * h.off.perSecond)}`).join('; ')}; no stale read after an acknowledged write → ${met(onChecks.stale === 0 && onChecks.reads > 0)}`,
        `total ${fmt((performance.now() - started) / 1000, 0)} s`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
    } finally {
      for (const close of closers) close();
      if (off && off.process.exitCode === null) {
        const exited = once(off.process, 'exit');
        off.process.kill('SIGTERM');
        await exited;
      }
      await stack.stop();
    }
  } finally {
    await db.drop();
    await deleteNamespace(namespace);
    await dropKeys(`${namespace}:`).catch(() => undefined);
  }
}

/** The run's Redis keys (cache entries, counters, figures under its prefix). */
async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(6379, '127.0.0.1');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
