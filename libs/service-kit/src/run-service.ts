import type { ConnectRouter } from '@connectrpc/connect';
import type { z } from 'zod';
import { runCli, type Command } from './cli.ts';
import { loadConfig, type BaseConfig } from './config.ts';
import { openRuntime, runMigrate, serve, type ServiceDefinition, type ServiceRuntime } from './service.ts';

/**
 * The whole main.ts of a service that serves its routes with the ops server
 * and has nothing more to open: `serve` (default) and `migrate`, configured
 * from the environment, plus any extra one-shot `commands`.
 */
export function runService<S extends z.ZodObject & z.ZodType<BaseConfig>>(
  definition: ServiceDefinition,
  configSchema: S,
  routes: (runtime: ServiceRuntime) => (router: ConnectRouter) => void,
  commands: Readonly<Record<string, Command>> = {},
): Promise<void> {
  const config = (): BaseConfig => loadConfig(configSchema, process.env);
  return runCli(
    definition.name,
    {
      async serve() {
        const runtime = await openRuntime(definition, config());
        await serve(runtime, { routes: routes(runtime), opsServer: true });
      },
      migrate: () => runMigrate(definition, config()),
      ...commands,
    },
    process.argv,
  );
}
