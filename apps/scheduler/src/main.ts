import { loadConfig, openRuntime, runService, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { configSchema } from './config.ts';
import { definition } from './definition.ts';
import { createJobRunRepository } from './job-runs/job-run.repository.ts';
import { runOneShot, type OneShotJob } from './jobs/one-shot.ts';
import { cleanupExpired, rotateSecrets } from './jobs/secret-jobs.ts';
import { createRoutes } from './rpc/routes.ts';

const runtimeFromEnv = () => openRuntime(definition, loadConfig(configSchema, process.env));

async function oneShot(name: string, job: OneShotJob): Promise<void> {
  const runtime: ServiceRuntime = await runtimeFromEnv();
  try {
    const runs = createJobRunRepository(runtime.orm.em.fork() as EntityManager);
    await runOneShot(name, job, runs, runtime.logger);
  } finally {
    await runtime.lifecycle.shutdown(`${name} finished`);
  }
}

await runService(definition, configSchema, createRoutes, {
  'rotate-secrets': () => oneShot('rotate-secrets', rotateSecrets),
  'cleanup-expired': () => oneShot('cleanup-expired', cleanupExpired),
});
