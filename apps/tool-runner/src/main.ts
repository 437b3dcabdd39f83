import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { actingFor, principalHeaders, servicePrincipal } from '@csda/auth';
import { createHttpTool, parseAllowList } from '@csda/net';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createSandbox, detectSandbox, resolveProgram, type Sandbox } from '@csda/sandbox';
import { checkReadOnlySql } from '@csda/sql-guard';
import { createServiceClient, ensureConsumer, loadConfig, openAuditOutbox, openRuntime, runCli, runMigrate, serve, startConsumer, type ServiceRuntime } from '@csda/service-kit';
import { configSchema, type Config } from './config.ts';
import { definition } from './definition.ts';
import { createExecutionRepository } from './executions/execution.repository.ts';
import { startExecutionEvents } from './executions/execution-events.ts';
import { createExecutionService } from './executions/execution.service.ts';
import { createExecutionWaiter, createFinishNotifier } from './executions/execution-waiter.ts';
import { createSecretGrants } from './executions/secret-grants.ts';
import { toolJobsSpec } from './executions/tool-jobs.ts';
import { createWorker } from './executions/worker.ts';
import { createApiExecutor } from './executors/api.executor.ts';
import { createSandboxExecutors } from './executors/sandbox.executor.ts';
import { guardDatasource } from './executors/datasource-guard.ts';
import { createSqlExecutor } from './executors/sql.executor.ts';
import { createRoutes } from './rpc/routes.ts';
import { createSchemaCompiler } from './tools/input-schema.ts';
import { createToolRepository } from './tools/tool.repository.ts';
import { createToolService } from './tools/tool.service.ts';

const config = (): Config => loadConfig(configSchema, process.env);
const TOOL_RUNNER = servicePrincipal('tool-runner', []);

/** The sandbox for python and shell tools: bubblewrap when it works here, `none` only when the operator says so. */
async function openSandbox(runtime: ServiceRuntime<Config>): Promise<{ sandbox: Sandbox | undefined; unavailable?: string }> {
  const { logger, health } = runtime;
  if (runtime.config.TOOLS_SANDBOX === 'none') {
    const warning = 'TOOLS_SANDBOX=none: python and shell tools run WITHOUT isolation (development only; never in production)';
    logger.warn(warning);
    health.addCheck('sandbox', async () => ({ ok: true, detail: warning }));
    return { sandbox: createSandbox({ mode: 'none' }) };
  }
  const detected = await detectSandbox();
  if (!detected.available) {
    const reason = detected.reason ?? 'bubblewrap is not usable here';
    logger.warn({ reason }, 'no sandbox: python and shell tools will be refused (SANDBOX_UNAVAILABLE)');
    health.addCheck('sandbox', async () => ({ ok: true, detail: `unavailable: ${reason}; python and shell tools are refused` }));
    return { sandbox: undefined, unavailable: reason };
  }
  health.addCheck('sandbox', async () => ({ ok: true, detail: 'bubblewrap' }));
  return { sandbox: createSandbox({ mode: 'bwrap' }) };
}

await runCli(
  definition.name,
  {
    async serve() {
      const runtime = await openRuntime(definition, config());
      const { config: cfg, logger, nats, lifecycle } = runtime;
      const signer = runtime.identity.signer;
      if (!signer) throw new Error('the tool-runner has no internal signing key (INTERNAL_SIGNING_KEY)');
      const vault = createServiceClient(VaultService, cfg.VAULT_URL, [runtime.metrics.rpcClientInterceptor]);
      const grants = createSecretGrants({
        vault,
        asUser: async (user, scope) => ({ headers: principalHeaders(await signer.sign(actingFor(TOOL_RUNNER, user, scope), 'vault')) }),
      });
      const audit = openAuditOutbox(runtime);
      const schemas = createSchemaCompiler();
      const em = () => runtime.orm.em.fork() as EntityManager;
      const toolRepository = () => createToolRepository(em());
      const executionRepository = () => createExecutionRepository(em());
      const tools = createToolService({
        repository: toolRepository,
        validation: {
          maxTimeoutS: cfg.TOOLS_MAX_TIMEOUT_S,
          maxOutputBytes: cfg.TOOLS_MAX_OUTPUT_BYTES,
          schemas,
          resolveProgram,
          checkReadOnlySql: (sql) => void checkReadOnlySql(sql),
        },
        grants,
        subjects: nats.subjects,
        audit,
      });
      const { sandbox, unavailable } = await openSandbox(runtime);
      const box = createSandboxExecutors({
        sandbox,
        unavailable,
        memoryBytes: cfg.TOOLS_SANDBOX_MEMORY_MB * 1024 * 1024,
        processes: cfg.TOOLS_SANDBOX_MAX_PROCESSES,
        // network: true tools get a per-execution egress proxy with api_call's guard (TOOLS_HTTP_ALLOW AND allow_hosts)
        egress: { operatorAllow: parseAllowList(cfg.TOOLS_HTTP_ALLOW) },
      });
      const runnerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
      const notifier = createFinishNotifier();
      const worker = createWorker({
        runnerId,
        executions: executionRepository,
        tools: toolRepository,
        executors: { python_script: box.python, shell_command: box.shell, api_call: createApiExecutor({ http: createHttpTool({ operatorAllow: parseAllowList(cfg.TOOLS_HTTP_ALLOW) }) }), sql_query: createSqlExecutor({ guard: (url) => guardDatasource(url, { allow: parseAllowList(cfg.TOOLS_SQL_ALLOW) }) }) },
        grants,
        audit,
        subjects: nats.subjects,
        notifier,
        logger: logger.child({ component: 'worker', runner_id: runnerId }),
        maxConcurrency: cfg.TOOLS_MAX_CONCURRENCY,
        leaseMs: cfg.TOOLS_LEASE_S * 1_000,
        maxQueuedMs: cfg.TOOLS_QUEUE_MAX_S * 1_000,
        listening: () => signals.listening(),
        notifiedPollMs: cfg.TOOLS_SIGNAL_FALLBACK_MS,
      });
      // Other replicas' finished and cancelled executions, signalled through PostgreSQL.
      const signals = startExecutionEvents({
        url: cfg.DATABASE_URL,
        logger: logger.child({ component: 'execution-signals' }),
        onFinished: (id) => notifier.notify(id),
        onCancel: (id) => void worker.cancelSignalled(id).catch((err: unknown) => logger.warn({ err, execution_id: id }, 'cancel signal not handled; the cancel watch retries')),
        onGap: () => notifier.wakeAll(),
      });
      lifecycle.defer('execution signals', () => signals.stop());
      runtime.health.addCheck('execution signals', () => signals.check());
      const executions = createExecutionService({
        tools,
        repository: executionRepository,
        schemas,
        subjects: nats.subjects,
        audit,
        waiter: createExecutionWaiter({ repository: executionRepository, notifier, listening: signals.listening, fallbackPollMs: cfg.TOOLS_SIGNAL_FALLBACK_MS }),
        runner: worker,
        userMaxRunning: cfg.TOOLS_USER_MAX_RUNNING,
        waitMaxMs: cfg.TOOLS_WAIT_MAX_S * 1_000,
      });
      await serve(runtime, { routes: createRoutes(runtime, { tools, executions }), opsServer: true, audit });

      const spec = toolJobsSpec(nats.subjects);
      await ensureConsumer(nats, spec);
      const jobs = await startConsumer(nats, {
        spec,
        concurrency: cfg.TOOLS_MAX_CONCURRENCY,
        metrics: runtime.metrics.consumers,
        logger: logger.child({ consumer: spec.durable }),
        handler: worker.handler,
      });
      worker.start();
      lifecycle.defer('tool jobs', async () => {
        // Stop pulling first, then abort what still runs (recorded RUNNER_STOPPED), then wait for those handlers.
        const stopped = jobs.stop();
        await worker.stop();
        await stopped;
      });
      runtime.health.addCheck('tool jobs consumer', () => jobs.check());
      logger.info({ runner_id: runnerId, concurrency: cfg.TOOLS_MAX_CONCURRENCY, sandbox: sandbox?.mode ?? 'unavailable' }, 'tool executions consumer started');
    },
    migrate: () => {
      const cfg = config();
      return runMigrate(definition, cfg, (runtime) => ensureConsumer(runtime.nats, toolJobsSpec(runtime.nats.subjects)));
    },
  },
  process.argv,
);
