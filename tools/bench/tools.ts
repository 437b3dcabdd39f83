// `npm run bench -- tools`: a bare `python3 -c pass` beside the same through
// the bubblewrap sandbox; end-to-end `wait: true` python executions through
// the gateway at 20 concurrent clients; an api_call tool against a local HTTP
// server; a sql_query tool with a simple select on a read-only role; and the
// SQL guard's parse time per statement. Own isolated stack; prints figures.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { benchmarkSpawnOverhead } from '@csda/sandbox';
import { checkReadOnlySql } from '@csda/sql-guard';
import { adminUrl, createTestDatabase, deleteNamespace, natsUrl, query, startStack, testNamespace } from '@csda/testing';
import { createJsonClient, fmt, percentile, runLoad, type LoadResult } from './load.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 15) * 1000;
const PASSWORD = 'bench-user-password-0123456789';
/** Runs of each spawn variant (bare, sandbox, sandbox with network: true). */
const SPAWN_RUNS = Number(process.env.BENCH_SPAWN_RUNS ?? 40);

const row = (name: string, r: LoadResult) =>
  `${name.padEnd(34)} ${fmt(r.perSecond, 1).padStart(8)} /s   p50 ${fmt(r.p50, 1).padStart(7)} ms   p95 ${fmt(r.p95, 1).padStart(7)} ms   errors ${r.errors}${r.firstError ? ` (first: ${r.firstError.slice(0, 160)})` : ''}`;

/** The guard's check time per statement over a mix of reads and refusals, µs. */
function guardTiming(): { p50: number; p99: number; n: number } {
  const statements = [
    'select 1',
    'select a.id, b.name from a join b on b.a_id = a.id where a.created_at > now() - interval $$1 day$$ order by a.id limit 50',
    'with recent as (select * from orders where placed_at > $1) select customer_id, sum(total) over (partition by customer_id) from recent',
    'values (1, $$x$$), (2, $$y$$)',
    'delete from t where id = 1',
    'select pg_advisory_lock(1)',
    'select 1; select 2',
    'with d as (delete from t returning *) select * from d',
  ];
  const samples: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const sql = statements[i % statements.length]!;
    const t0 = process.hrtime.bigint();
    try {
      checkReadOnlySql(sql);
    } catch {
      // Refusals are part of the mix.
    }
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), n: samples.length };
}

export async function benchTools(): Promise<void> {
  process.stdout.write(`bare spawn vs sandbox, without and with network (${SPAWN_RUNS} runs each)…\n`);
  const spawn = await benchmarkSpawnOverhead(SPAWN_RUNS);
  const guard = guardTiming();

  const upstream = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (upstream.address() as { port: number }).port;

  const namespace = testNamespace();
  const db = await createTestDatabase('bench_tools');
  const stack = await startStack({
    databaseUrl: db.url,
    namespace,
    env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', NATS_URL: natsUrl(), TOOLS_MAX_CONCURRENCY: '8', TOOLS_USER_MAX_RUNNING: '1000', TOOLS_HTTP_ALLOW: '127.0.0.1', TOOLS_SQL_ALLOW: '127.0.0.1' },
  });
  const client = await createJsonClient(stack.gatewayUrl, CONCURRENCY);
  const reader = `bench_reader_${randomBytes(4).toString('hex')}`;
  try {
    const json = client.call;
    const login = async (username: string, password: string) => (await json('POST', '/api/v1/auth/login', undefined, { username, password }))!.access_token as string;
    const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    await json('POST', '/api/v1/users', admin, { username: 'bench', email: 'bench@example.test', password: PASSWORD });
    const token = await login('bench', PASSWORD);
    const tool = async (body: Record<string, unknown>) => (await json('POST', '/api/v1/tools', token, body))!.id as string;
    const inputSchema = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] };
    const python = await tool({
      name: 'add',
      tool_type: 'python_script',
      config: { code: 'import json, sys\nx = json.load(sys.stdin)\nprint(json.dumps({"sum": x["a"] + x["b"]}))' },
      input_schema: inputSchema,
    });
    const http = await tool({
      name: 'ping',
      tool_type: 'api_call',
      config: { method: 'GET', url: `http://127.0.0.1:${upstreamPort}/ping?a={{a}}`, allow_hosts: ['127.0.0.1'] },
      input_schema: inputSchema,
    });
    // A read-only role for the SQL tool, its URL kept in the vault.
    // Roles are cluster-wide: one per run, dropped at the end.
    const dsUrl = new URL(db.url);
    const database = decodeURIComponent(dsUrl.pathname.slice(1));
    // The provisioned database admits no one by default (CONNECT revoked from PUBLIC).
    await query(stack.env.DATABASE_URL!, `create role ${reader} login password 'bench-reader-pw'; grant pg_read_all_data to ${reader}; grant connect on database "${database}" to ${reader}`);
    dsUrl.username = reader;
    dsUrl.password = 'bench-reader-pw';
    const datasource = (await json('POST', '/api/v1/vault/secrets', token, { name: 'reader', value: dsUrl.toString() }))!.id as string;
    const sql = await tool({
      name: 'count',
      tool_type: 'sql_query',
      config: { datasource, query: 'select $1::int + 1 as n', params: ['{{a}}'], max_rows: 10 },
      secrets: [{ secret_id: datasource, as: 'datasource' }],
      input_schema: inputSchema,
    });

    const execute = (id: string) => async (i: number) => {
      const res = await json('POST', `/api/v1/tools/${id}/execute`, token, { input: { a: i, b: 1 }, wait: true });
      if (res?.status !== 'completed') {
        const error = res?.error as { code?: string; message?: string } | undefined;
        throw new Error(`execution ${String(res?.id ?? res?.execution_id)} ended ${String(res?.status)}${error ? `: ${error.code} ${error.message}` : ''}`);
      }
    };
    process.stdout.write(`python tool, wait: true, ${CONCURRENCY} concurrent clients for ${DURATION_MS / 1000} s…\n`);
    await runLoad(4, 2_000, execute(python));
    const py = await runLoad(CONCURRENCY, DURATION_MS, execute(python));
    // Latency without queueing: one client at a time.
    const pyOne = await runLoad(1, DURATION_MS / 3, execute(python));
    process.stdout.write('api_call and sql_query tools…\n');
    const api = await runLoad(CONCURRENCY, DURATION_MS / 3, execute(http));
    const db1 = await runLoad(CONCURRENCY, DURATION_MS / 3, execute(sql));

    const lines = [
      '',
      `tools benchmark — node ${process.version}, ${cpus().length} cores, ${CONCURRENCY} concurrent clients`,
      `python3 -c pass bare              p50 ${fmt(spawn.bare.p50, 2)} ms   p95 ${fmt(spawn.bare.p95, 2)} ms`,
      `python3 -c pass in bwrap          p50 ${fmt(spawn.bwrap.p50, 2)} ms   p95 ${fmt(spawn.bwrap.p95, 2)} ms   ratio ${fmt(spawn.ratio, 2)}×`,
      // The same with network: true (egress listener started, relay in front of the program, egress closed); the extra is p50 − bwrap p50.
      `network: true start overhead      p50 ${fmt(spawn.bwrapNetwork.p50, 2)} ms   p95 ${fmt(spawn.bwrapNetwork.p95, 2)} ms   +${fmt(spawn.networkExtraMs, 2)} ms over bwrap`,
      row('python wait:true via gateway', py),
      row('python wait:true, 1 client', pyOne),
      row('api_call wait:true via gateway', api),
      row('sql_query wait:true via gateway', db1),
      `SQL guard check per statement     p50 ${fmt(guard.p50, 1)} µs   p99 ${fmt(guard.p99, 1)} µs   (${guard.n} checks)`,
      `targets: sandbox ≤ 1.5× bare → ${spawn.ratio <= 1.5 ? 'met' : 'NOT met'}; ≥ 40 python executions/s with 0 errors → ${py.perSecond >= 40 && py.errors === 0 ? 'met' : 'NOT met'}; ` +
        `python p50 (1 client) ≤ 3× bare spawn (${fmt(3 * spawn.bare.p50, 1)} ms) → ${pyOne.p50 <= 3 * spawn.bare.p50 ? 'met' : 'NOT met'}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    client.close();
    upstream.close();
    await stack.stop();
    await db.drop();
    await query(adminUrl(), `drop role if exists ${reader}`).catch(() => undefined);
    await deleteNamespace(namespace);
  }
}
