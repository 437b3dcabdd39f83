import { runService } from '@csda/service-kit';
import { configSchema } from './config.ts';
import { definition } from './definition.ts';
import { createRoutes } from './rpc/routes.ts';

await runService(definition, configSchema, createRoutes);
