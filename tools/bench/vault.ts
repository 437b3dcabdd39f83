// `npm run bench -- vault`: 10,000 secrets created through the gateway, then
// revealed at 32 concurrent clients through the gateway, straight to the
// vault over Connect, and as raw AES-256-GCM unwrap+decrypt; plus login
// throughput beside raw Argon2id verification. Runs its own isolated stack
// (own database, NATS namespace, keys) and prints figures; asserts nothing.
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES } from '@csda/auth';
import { benchmarkUnwrapDecrypt } from '@csda/crypto';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, natsUrl, startStack, testNamespace } from '@csda/testing';
import { hash, verify } from '@node-rs/argon2';
import { createJsonClient, fmt, runAll, runLoad, type LoadResult } from './load.ts';

const SECRETS = Number(process.env.BENCH_SECRETS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const PASSWORD = 'bench-user-password-0123456789';

const row = (name: string, r: LoadResult) =>
  `${name.padEnd(30)} ${fmt(r.perSecond, 0).padStart(8)} /s   p50 ${fmt(r.p50, 2).padStart(7)} ms   p95 ${fmt(r.p95, 2).padStart(7)} ms   p99 ${fmt(r.p99, 2).padStart(7)} ms   errors ${r.errors}`;

export async function benchVault(): Promise<void> {
  const namespace = testNamespace();
  const db = await createTestDatabase('bench_vault');
  const stack = await startStack({
    databaseUrl: db.url,
    namespace,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ...(process.env.BENCH_PROFILE_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}` } : {}),
      NATS_URL: natsUrl(),
      // The login figure measures Argon2-bound throughput, so the brute-force limits are lifted for this run only.
      LOGIN_FREE_FAILURES: '1000000',
      LOGIN_MAX_FAILURES_PER_CLIENT: '1000000',
    },
  });
  try {
    const base = stack.gatewayUrl;
    const client = await createJsonClient(base, CONCURRENCY);
    const json = client.call;
    const login = async (username: string, password: string) => (await json('POST', '/api/v1/auth/login', undefined, { username, password }))!.access_token as string;

    const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    const user = (await json('POST', '/api/v1/users', admin, { username: 'bench', email: 'bench@example.test', password: PASSWORD }))!;
    const token = await login('bench', PASSWORD);

    process.stdout.write(`creating ${SECRETS} secrets through the gateway at ${CONCURRENCY} concurrent clients…\n`);
    const ids: string[] = new Array(SECRETS);
    const createSeconds = await runAll(SECRETS, CONCURRENCY, async (i) => {
      ids[i] = (await json('POST', '/api/v1/vault/secrets', token, { name: `bench-${i}`, value: `value-${i}-${'x'.repeat(24)}` }))!.id as string;
    });

    process.stdout.write(`revealing for ${DURATION_MS / 1000} s per path…\n`);
    await runLoad(CONCURRENCY, 2_000, async (i) => void (await json('GET', `/api/v1/vault/secrets/${ids[i % SECRETS]}/value`, token)));
    const gateway = await runLoad(CONCURRENCY, DURATION_MS, async (i) => {
      await json('GET', `/api/v1/vault/secrets/${ids[(i * 7919) % SECRETS]}/value`, token);
    });

    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', stack.keys.signingKeys.gateway!) });
    const principal = { kind: 'user' as const, id: user.id as string, name: 'bench', roles: ['USER'], permissions: [...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions] };
    const vault = createClient(VaultService, createConnectTransport({ baseUrl: `http://127.0.0.1:${stack.services.vault.rpcPort}`, httpVersion: '2', useBinaryFormat: true }));
    const direct = await runLoad(CONCURRENCY, DURATION_MS, async (i) => {
      await vault.revealSecret({ id: ids[(i * 7919) % SECRETS]! }, { headers: principalHeaders(await signer.sign(principal, 'vault')) });
    });

    const raw = benchmarkUnwrapDecrypt(50_000);

    process.stdout.write('logging in for 10 s…\n');
    // Eight accounts, one per client: many people signing in, not one account hammered.
    for (let i = 0; i < 8; i++) await json('POST', '/api/v1/users', admin, { username: `login-${i}`, email: `login-${i}@example.test`, password: PASSWORD });
    const logins = await runLoad(8, 10_000, async (i) => void (await login(`login-${i % 8}`, PASSWORD)));
    const argonHash = await hash(PASSWORD, { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const argon = await runLoad(8, 5_000, async () => {
      if (!(await verify(argonHash, PASSWORD))) throw new Error('verify failed');
    });

    const lines = [
      '',
      `vault benchmark — ${SECRETS} secrets, ${CONCURRENCY} concurrent clients, node ${process.version}, ${(await import('node:os')).cpus().length} cores`,
      `create through gateway          ${fmt(SECRETS / createSeconds, 0).padStart(8)} /s   (${fmt(createSeconds, 1)} s for ${SECRETS})`,
      row('reveal through gateway', gateway),
      row('reveal straight to vault', direct),
      `raw unwrap+decrypt (1 thread)   ${fmt(raw.opsPerSec, 0).padStart(8)} /s   p50 ${fmt(raw.p50us / 1000, 3).padStart(7)} ms                     p99 ${fmt(raw.p99us / 1000, 3).padStart(7)} ms`,
      `ratios: gateway/vault ${fmt(gateway.perSecond / direct.perSecond, 2)}   vault/raw ${fmt(direct.perSecond / raw.opsPerSec, 3)}   gateway/raw ${fmt(gateway.perSecond / raw.opsPerSec, 3)}`,
      row('login through gateway (8 conc)', logins),
      row('raw argon2id verify (8 conc)', argon),
      `ratio: login/argon2 ${fmt(logins.perSecond / argon.perSecond, 2)}`,
      `targets: ≥ 1000 reveals/s through the gateway → ${gateway.perSecond >= 1000 ? 'met' : 'NOT met'}; p99 ≤ 50 ms → ${gateway.p99 <= 50 ? 'met' : 'NOT met'}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    client.close();
  } finally {
    await stack.stop();
    await db.drop();
    await deleteNamespace(namespace);
  }
}
