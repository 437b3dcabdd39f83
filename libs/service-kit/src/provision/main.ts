// The `provision` one-shot: per-service PostgreSQL roles, schemas, grants and
// the `vector` extension, with an admin connection. Run before every service's
// `migrate` (npm start does; in Kubernetes the optional provisioning hook Job):
//   node libs/service-kit/src/provision/main.ts [provision]   provision (env: see config.ts)
//   node libs/service-kit/src/provision/main.ts print-sql     the same SQL, for a DBA to run instead
// Exit codes as every service command: 0 ok, 1 failure, 64 usage, 69 database unreachable, 78 configuration.
import pg from 'pg';
import { runCli } from '../cli.ts';
import { createLogger } from '../logger.ts';
import { connectWithRetry, redactUrl } from '../retry.ts';
import { loadProvisionConfig } from './config.ts';
import { provisionDatabase } from './provision.ts';
import { DATABASE_SERVICES, defaultRoleName } from './services.ts';
import { provisionScript } from './sql.ts';

async function provision(): Promise<void> {
  const config = loadProvisionConfig(process.env);
  const logger = createLogger({ service: 'provision', level: process.env.LOG_LEVEL === 'silent' ? 'silent' : 'info' });
  const target = redactUrl(config.adminUrl);
  const client = await connectWithRetry(
    'postgres',
    target,
    async () => {
      const c = new pg.Client({ connectionString: config.adminUrl, application_name: 'csda-provision' });
      c.on('error', () => undefined); // a dropped connection surfaces on the next query
      try {
        await c.connect();
        return c;
      } catch (err) {
        await c.end().catch(() => undefined);
        throw err;
      }
    },
    logger,
    { deadlineMs: config.startupTimeoutMs },
  );
  try {
    const report = await provisionDatabase(client, config.roles).catch((err: unknown) => {
      if ((err as { code?: string }).code !== '42501') throw err;
      throw new Error(
        `${(err as Error).message}: the user of DATABASE_ADMIN_URL must be a superuser, or own the database and have CREATEROLE ` +
          '(or have a DBA run the SQL of `print-sql` instead)',
      );
    });
    for (const r of report.roles) {
      process.stdout.write(`provisioned ${r.service}: role ${r.role} owns schema ${r.schema} in ${report.database}${r.passwordSet ? ' (password set)' : ''}\n`);
    }
  } finally {
    await client.end().catch(() => undefined);
    logger.flush();
  }
}

async function printSql(): Promise<void> {
  process.stdout.write(provisionScript(DATABASE_SERVICES.map((s) => ({ ...s, role: defaultRoleName(s.service) }))));
}

await runCli('csda', { provision, 'print-sql': printSql }, [process.argv[0] ?? 'node', process.argv[1] ?? '', process.argv[2] ?? 'provision']);
