import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createGuardedHttp, parseAllowList } from '@csda/net';
import { ConfigError, ensureConsumer, loadConfig, openAuditOutbox, openRuntime, runCli, runMigrate, serve, startConsumer, type ServiceRuntime } from '@csda/service-kit';
import { importLegacy } from './commands/import-legacy.ts';
import { rewrapAll } from './commands/rewrap.ts';
import { configSchema, type Config } from './config.ts';
import { definition } from './definition.ts';
import { addKeyringCheck, loadKeyring } from './keyring.ts';
import { parseLegacyExport } from './legacy/legacy-export.ts';
import { consumerConfigSpec, createSecretJobHandler, secretJobsSpec } from './consumers/secret-jobs.consumer.ts';
import { createMaintenanceService } from './rotation/maintenance.service.ts';
import { createPostgresOps } from './rotation/postgres-ops.ts';
import { createRotationEngine } from './rotation/rotation.engine.ts';
import { createWebhookOps } from './rotation/webhook-strategy.ts';
import { createGrantService } from './grants/grant.service.ts';
import { createRoutes } from './rpc/routes.ts';
import { createSecretRepository } from './secrets/secret.repository.ts';
import { createSecretService } from './secrets/secret.service.ts';

const config = () => loadConfig(configSchema, process.env);

const jobsSpec = (runtime: Pick<ServiceRuntime, 'nats'>, cfg: Config) =>
  secretJobsSpec(runtime.nats.subjects, { backoffMs: cfg.VAULT_ROTATION_BACKOFF_S.map((s) => s * 1_000), ackWaitMs: cfg.VAULT_ROTATION_ACK_WAIT_S * 1_000 });

/** The webhook strategy's HTTP client: SSRF-guarded (VAULT_WEBHOOK_ALLOW), https only, never following redirects. */
async function webhookHttp(cfg: Config) {
  let allow;
  try {
    allow = parseAllowList(cfg.VAULT_WEBHOOK_ALLOW);
  } catch (err) {
    throw new ConfigError([`VAULT_WEBHOOK_ALLOW: ${err instanceof Error ? err.message : 'invalid'}`]);
  }
  let ca: string | undefined;
  if (cfg.VAULT_WEBHOOK_CA_FILE) {
    ca = await readFile(cfg.VAULT_WEBHOOK_CA_FILE, 'utf8').catch(() => {
      throw new ConfigError([`VAULT_WEBHOOK_CA_FILE: cannot read ${cfg.VAULT_WEBHOOK_CA_FILE}`]);
    });
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError([`VAULT_WEBHOOK_CA_FILE: ${cfg.VAULT_WEBHOOK_CA_FILE} holds no PEM certificate`]);
  }
  return createGuardedHttp({ allow, requireHttps: true, ...(ca ? { ca } : {}) });
}

async function open(cfg: Config) {
  const runtime = await openRuntime(definition, cfg);
  const keyring = await loadKeyring(cfg, (message) => runtime.logger.warn(message));
  const outbox = openAuditOutbox(runtime);
  const repository = () => createSecretRepository(runtime.orm.em.fork() as EntityManager, outbox, runtime.nats.subjects);
  return { runtime, keyring, repository, outbox };
}

async function oneShot(work: (ctx: Awaited<ReturnType<typeof open>>) => Promise<number | void>): Promise<number | void> {
  const ctx = await open(config());
  try {
    const code = await work(ctx);
    // Publish what the command recorded; if NATS is away, the rows wait for the vault's relay.
    await ctx.outbox.flush(15_000).catch((err: unknown) => ctx.runtime.logger.warn({ err }, 'audit records left in the outbox for the vault to relay'));
    return code;
  } finally {
    await ctx.runtime.lifecycle.shutdown('command finished');
  }
}

await runCli(
  definition.name,
  {
    async serve() {
      const cfg = config();
      const http = await webhookHttp(cfg);
      const { runtime, keyring, repository, outbox } = await open(cfg);
      runtime.lifecycle.defer('webhook client', () => http.close());
      addKeyringCheck(runtime, keyring);
      const postgres = createPostgresOps({ allow: cfg.VAULT_POSTGRES_ALLOW });
      const subjects = runtime.nats.subjects;
      const rotation = createRotationEngine({ repository, keyring: () => keyring, subjects, postgres, webhook: createWebhookOps({ http }) });
      const secrets = createSecretService({ repository, keyring: () => keyring, rotation, postgres });
      const maintenance = createMaintenanceService({ repository, subjects });
      await serve(runtime, { routes: createRoutes(runtime, secrets, maintenance, createGrantService({ repository })), opsServer: true, audit: outbox });

      const spec = jobsSpec(runtime, cfg);
      await ensureConsumer(runtime.nats, consumerConfigSpec(spec));
      const jobs = await startConsumer(runtime.nats, {
        spec,
        concurrency: cfg.VAULT_ROTATION_CONCURRENCY,
        metrics: runtime.metrics.consumers,
        logger: runtime.logger.child({ consumer: spec.durable }),
        handler: createSecretJobHandler({ engine: rotation, spec }),
      });
      runtime.lifecycle.defer('secret jobs consumer', () => jobs.stop());
      runtime.health.addCheck('secret jobs consumer', () => jobs.check());
    },
    migrate: () => {
      const cfg = config();
      return runMigrate(definition, cfg, (runtime) => ensureConsumer(runtime.nats, consumerConfigSpec(jobsSpec(runtime, cfg))));
    },
    rewrap: () =>
      oneShot(async ({ runtime, keyring, repository }) => {
        // Recorded in the audit trail: who ran the rotation (CSDA_OPERATOR, else the OS user and host).
        const operator = process.env.CSDA_OPERATOR || `${userInfo().username}@${hostname()}`;
        const result = await rewrapAll(repository, keyring, runtime.logger, operator);
        process.stdout.write(`rewrap: ${result.rewrapped} data key(s) re-wrapped under ${keyring.activeId}, ${result.failed} failed; versions by key: ${JSON.stringify(result.byKey)}\n`);
        return result.failed > 0 ? 1 : 0;
      }),
    'import-legacy': () =>
      oneShot(async ({ runtime, keyring, repository }) => {
        const { values } = parseArgs({
          args: process.argv.slice(3),
          options: { secrets: { type: 'string' }, versions: { type: 'string' }, format: { type: 'string' }, 'owner-id': { type: 'string' }, 'owner-map': { type: 'string' } },
        });
        if (!values.secrets || !values['owner-id']) {
          throw new ConfigError(['usage: vault import-legacy --secrets <file.json|csv> [--versions <file>] [--format json|csv] --owner-id <user id> [--owner-map <file.json>] (Fernet key in LEGACY_ENCRYPTION_KEY)']);
        }
        const format = (values.format ?? (extname(values.secrets) === '.csv' ? 'csv' : 'json')) as 'json' | 'csv';
        const parsed = parseLegacyExport(
          { secrets: await readFile(values.secrets, 'utf8'), versions: values.versions ? await readFile(values.versions, 'utf8') : undefined, format },
          process.env.LEGACY_ENCRYPTION_KEY || undefined,
        );
        const ownerMap = values['owner-map'] ? (JSON.parse(await readFile(values['owner-map'], 'utf8')) as Record<string, string>) : {};
        const result = await importLegacy(parsed, repository, keyring, { defaultOwnerId: values['owner-id'], ownerMap }, runtime.logger);
        process.stdout.write(`import-legacy: ${result.imported} secret(s) imported with ${result.versions} version(s), ${result.skipped} already imported\n`);
      }),
  },
  process.argv,
);
