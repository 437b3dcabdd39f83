import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ConfigError, loadConfig, openAuditOutbox, openRuntime, runCli, runMigrate, serve } from '@csda/service-kit';
import { importLegacy } from './commands/import-legacy.ts';
import { rewrapAll } from './commands/rewrap.ts';
import { configSchema, type Config } from './config.ts';
import { definition } from './definition.ts';
import { addKeyringCheck, loadKeyring } from './keyring.ts';
import { parseLegacyExport } from './legacy/legacy-export.ts';
import { createRoutes } from './rpc/routes.ts';
import { createSecretRepository } from './secrets/secret.repository.ts';
import { createSecretService } from './secrets/secret.service.ts';

const config = () => loadConfig(configSchema, process.env);

async function open(cfg: Config) {
  const runtime = await openRuntime(definition, cfg);
  const keyring = await loadKeyring(cfg, (message) => runtime.logger.warn(message));
  const outbox = openAuditOutbox(runtime);
  const repository = () => createSecretRepository(runtime.orm.em.fork() as EntityManager, outbox);
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
      const { runtime, keyring, repository, outbox } = await open(config());
      addKeyringCheck(runtime, keyring);
      const secrets = createSecretService({ repository, keyring: () => keyring });
      await serve(runtime, { routes: createRoutes(runtime, secrets), opsServer: true, audit: outbox });
    },
    migrate: () => runMigrate(definition, config()),
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
