// The stream-provisioning one-shot: creates (or updates) the platform's
// JetStream streams as the NATS provisioner user, the only user allowed to
// (nats-permissions.ts). Run before every service's `migrate` (npm start does;
// in Kubernetes the nats-provision hook Job):
//   node libs/service-kit/src/provision/streams.ts
// Environment: NATS_URL, NATS_NAMESPACE, NATS_USER / NATS_PASSWORD (the
// provisioner's), STARTUP_TIMEOUT_MS, LOG_LEVEL. Exit codes as every service
// command (0 ok, 1 failure, 69 NATS unreachable, 78 configuration).
import { z } from 'zod';
import { runCli } from '../cli.ts';
import { baseConfigShape, loadConfig } from '../config.ts';
import { connectNats, ensureStreams, natsAuth, type NatsAuth } from '../events.ts';
import { createLogger } from '../logger.ts';
import { connectWithRetry, redactUrl } from '../retry.ts';

const schema = z.object({
  NODE_ENV: baseConfigShape.NODE_ENV,
  LOG_LEVEL: baseConfigShape.LOG_LEVEL,
  NATS_URL: baseConfigShape.NATS_URL,
  NATS_NAMESPACE: baseConfigShape.NATS_NAMESPACE,
  NATS_USER: baseConfigShape.NATS_USER,
  NATS_PASSWORD: baseConfigShape.NATS_PASSWORD,
  STARTUP_TIMEOUT_MS: baseConfigShape.STARTUP_TIMEOUT_MS,
});

export interface StreamProvisionOptions {
  readonly url: string;
  readonly namespace: string;
  readonly auth?: NatsAuth;
  readonly deadlineMs: number;
  readonly logger: Parameters<typeof connectWithRetry>[3];
}

/** Connects as the provisioner, creates/updates every stream, disconnects. Returns the stream names. */
export async function provisionStreams(options: StreamProvisionOptions): Promise<string[]> {
  const nats = await connectWithRetry('nats', redactUrl(options.url), () => connectNats(options.url, 'csda-provision', options.namespace, options.auth), options.logger, {
    deadlineMs: options.deadlineMs,
  });
  try {
    await ensureStreams(nats);
    return nats.subjects.streams().map((s) => s.name);
  } finally {
    await nats.connection.close();
  }
}

async function provision(): Promise<void> {
  const config = loadConfig(schema, process.env);
  const logger = createLogger({ service: 'provision-streams', level: config.LOG_LEVEL });
  const names = await provisionStreams({ url: config.NATS_URL, namespace: config.NATS_NAMESPACE, auth: natsAuth(config), deadlineMs: config.STARTUP_TIMEOUT_MS, logger });
  process.stdout.write(`provisioned JetStream streams: ${names.join(', ')}\n`);
  logger.flush();
}

if (import.meta.main) await runCli('provision-streams', { provision }, [process.argv[0] ?? 'node', process.argv[1] ?? '', process.argv[2] ?? 'provision']);
