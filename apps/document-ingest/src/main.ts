import { loadConfig, openRuntime, runCli, runMigrate, serve } from '@csda/service-kit';
import { configSchema } from './config.ts';
import { definition } from './definition.ts';
import { createRoutes } from './rpc/routes.ts';

await runCli(
  definition.name,
  {
    async serve() {
      const runtime = await openRuntime(definition, loadConfig(configSchema, process.env));
      await serve(runtime, { routes: createRoutes(runtime), opsServer: true });
    },
    migrate: () => runMigrate(definition, loadConfig(configSchema, process.env)),
  },
  process.argv,
);
