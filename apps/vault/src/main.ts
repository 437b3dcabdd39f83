import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ConfigError, loadConfig, openRuntime, publishAudit, runCli, runMigrate, serve, type ServiceRuntime } from '@csda/service-kit';
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
  const repository = () => createSecretRepository(runtime.orm.em.fork() as EntityManager);
  return { runtime, keyring, repository };
}

async function oneShot(work: (ctx: Awaited<ReturnType<typeof open>>) => Promise<number | void>): Promise<number | void> {
  const ctx = await open(config());
  try {
    return await work(ctx);
  } finally {
    await ctx.runtime.lifecycle.shutdown('command finished');
  }
}

const audit = (runtime: ServiceRuntime) => (fact: Parameters<typeof publishAudit>[2]) => publishAudit(runtime.nats, 'vault', fact);

await runCli(
  definition.name,
  {
    async serve() {
      const { runtime, keyring, repository } = await open(config());
      addKeyringCheck(runtime, keyring);
      const secrets = createSecretService({ repository, keyring: () => keyring, audit: audit(runtime) });
      await serve(runtime, { routes: createRoutes(runtime, secrets), opsServer: true });
    },
    migrate: () => runMigrate(definition, config()),
    rewrap: () =>
      oneShot(async ({ runtime, keyring, repository }) => {
        const result = await rewrapAll(repository, keyring, runtime.logger);
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
        const result = await importLegacy(parsed, repository, keyring, audit(runtime), { defaultOwnerId: values['owner-id'], ownerMap }, runtime.logger);
        process.stdout.write(`import-legacy: ${result.imported} secret(s) imported with ${result.versions} version(s), ${result.skipped} already imported\n`);
      }),
  },
  process.argv,
);
