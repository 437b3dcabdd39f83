// `npm run bench -- rotation`: 10,000 secrets with the `random` strategy made
// due at once, two vault and two scheduler replicas: time until every one is
// rotated, versions created (must be exactly one per secret), rotations/s
// beside raw JetStream publish+consume+ack and raw encrypt+insert throughput
// measured in the same run. Own isolated stack (database, NATS namespace,
// keys); prints figures and exits non-zero when a rotation was lost or doubled.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { aadFor, encryptValue, generateKeyring, parseKeyring } from '@csda/crypto';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { connectNats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, query, startService, startStack, testNamespace } from '@csda/testing';
import { AckPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import pg from 'pg';
import { fmt, runAll } from './load.ts';

const SECRETS = Number(process.env.BENCH_SECRETS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 180) * 1000;

/** Raw JetStream: publish `n` messages with server acks (pipelined), then pull and ack them all. */
async function rawJetStream(namespace: string, n: number): Promise<number> {
  const nats = await connectNats(natsUrl(), 'bench-rotation', namespace);
  const stream = `${namespace}_BENCH_RAW`;
  const subject = `${namespace}.bench.raw`;
  try {
    await nats.jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
    await nats.jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 1_000 });
    const payload = randomBytes(120);
    const started = performance.now();
    await runAll(n, 256, async (i) => void (await nats.js.publish(subject, payload, { msgID: `raw-${i}` })));
    const consumer = await nats.js.consumers.get(stream, 'raw');
    const messages = await consumer.consume({ max_messages: 512 });
    let seen = 0;
    for await (const msg of messages) {
      msg.ack();
      if (++seen === n) break;
    }
    await messages.close();
    return n / ((performance.now() - started) / 1000);
  } finally {
    await nats.jsm.streams.delete(stream).catch(() => undefined);
    await nats.connection.close();
  }
}

/** Raw encrypt+insert: what a rotation must at least do — seal a fresh value and insert a version row, one transaction each. */
async function rawEncryptInsert(databaseUrl: string, n: number): Promise<number> {
  const keyring = parseKeyring(generateKeyring('bench'));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  try {
    await pool.query('create table bench_raw_versions (secret_id uuid, version int, ciphertext bytea, wrapped_key bytea, key_id text, created_at timestamptz default now(), primary key (secret_id, version))');
    const started = performance.now();
    await runAll(n, 16, async () => {
      const id = crypto.randomUUID();
      const sealed = encryptValue(keyring, Buffer.from(randomBytes(24).toString('base64url')), aadFor(id, 2));
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query('insert into bench_raw_versions (secret_id, version, ciphertext, wrapped_key, key_id) values ($1, $2, $3, $4, $5)', [id, 2, sealed.ciphertext, sealed.wrappedKey, sealed.keyId]);
        await client.query('commit');
      } finally {
        client.release();
      }
    });
    return n / ((performance.now() - started) / 1000);
  } finally {
    await pool.query('drop table if exists bench_raw_versions').catch(() => undefined);
    await pool.end();
  }
}

export async function benchRotation(): Promise<void> {
  const namespace = testNamespace();
  const db = await createTestDatabase('bench_rotation');
  const loops = { SCHEDULER_SCAN_INTERVAL_S: '1' };
  const stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', NATS_URL: natsUrl(), ...loops } });
  const extra: { stop(): Promise<number | null> }[] = [];
  try {
    extra.push(await startService('vault', stack.envFor('vault')), await startService('scheduler', stack.envFor('scheduler')));
    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', stack.keys.signingKeys.gateway!) });
    const user: Principal = { kind: 'user', id: crypto.randomUUID(), name: 'bench', roles: ['USER'], permissions: [...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions] };
    const vault = createClient(VaultService, createConnectTransport({ baseUrl: `http://127.0.0.1:${stack.services.vault.rpcPort}`, httpVersion: '2', useBinaryFormat: true }));
    const policy = { length: 40, charset: 'alphanumeric' };

    process.stdout.write(`creating ${SECRETS} secrets (random strategy, 30-day interval) at ${CONCURRENCY} concurrent clients…\n`);
    const createSeconds = await runAll(SECRETS, CONCURRENCY, async (i) => {
      await vault.createSecret(
        { name: `rotating-${i}`, value: `initial-${i}-${'x'.repeat(24)}`, rotation: { enabled: true, intervalDays: 30, strategy: 'random', policy } },
        { headers: principalHeaders(await signer.sign(user, 'vault')) },
      );
    });

    // Every secret becomes due now; the schedulers' next scan (1 s) finds them.
    const admin = stack.env.DATABASE_URL!;
    await query(admin, `update vault.secrets set next_rotation_at = now() - interval '1 second' where owner_id = $1`, [user.id]);
    const started = performance.now();
    let rotated = 0;
    while (performance.now() - started < TIMEOUT_MS) {
      const [row] = await query<{ n: string }>(admin, 'select count(*) as n from vault.secrets where owner_id = $1 and current_version >= 2', [user.id]);
      rotated = Number(row!.n);
      if (rotated >= SECRETS) break;
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    // Late duplicates would show up after the fact: give stragglers a moment before counting.
    await sleep(3_000);
    const [versions] = await query<{ created: string; doubled: string; pending: string }>(
      admin,
      `select (select count(*) from vault.secret_versions v join vault.secrets s on s.id = v.secret_id where s.owner_id = $1 and v.version > 1) as created,
              (select count(*) from vault.secrets where owner_id = $1 and current_version > 2) as doubled,
              (select count(*) from vault.secrets where owner_id = $1 and pending_version is not null) as pending`,
      [user.id],
    );
    const jobs = await query<{ status: string; n: string }>(admin, 'select status, count(*) as n from scheduler.jobs group by status order by status');

    process.stdout.write('measuring raw JetStream and raw encrypt+insert on the same machine…\n');
    const jetstream = await rawJetStream(namespace, SECRETS);
    const insert = await rawEncryptInsert(admin, SECRETS);
    const perSecond = rotated / seconds;
    const created = Number(versions!.created);
    const lines = [
      '',
      `rotation benchmark — ${SECRETS} due random secrets, 2 vault + 2 scheduler replicas, node ${process.version}, ${cpus().length} cores`,
      `create (setup)                  ${fmt(SECRETS / createSeconds, 0).padStart(8)} /s`,
      `all rotated in                  ${fmt(seconds, 2).padStart(8)} s   (${rotated} of ${SECRETS})`,
      `rotations                       ${fmt(perSecond, 0).padStart(8)} /s`,
      `versions created                ${String(created).padStart(8)}     (must be ${SECRETS}); secrets rotated twice: ${versions!.doubled}; left pending: ${versions!.pending}`,
      `scheduler job records           ${jobs.map((j) => `${j.status} ${j.n}`).join(', ')}`,
      `raw JetStream publish+ack+consume ${fmt(jetstream, 0).padStart(6)} /s   ratio rotations/raw ${fmt(perSecond / jetstream, 3)}`,
      `raw encrypt+insert (16 conc)    ${fmt(insert, 0).padStart(8)} /s   ratio rotations/raw ${fmt(perSecond / insert, 3)}`,
      `target: all ${SECRETS} in ≤ 20 s → ${rotated >= SECRETS && seconds <= 20 ? 'met' : 'NOT met'}; none lost → ${rotated >= SECRETS ? 'yes' : 'NO'}; none doubled → ${created === SECRETS && versions!.doubled === '0' ? 'yes' : 'NO'}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    if (rotated < SECRETS || created !== SECRETS) process.exitCode = 1;
  } finally {
    await Promise.all(extra.map((s) => s.stop()));
    await stack.stop();
    await db.drop();
    await deleteNamespace(namespace);
  }
}
