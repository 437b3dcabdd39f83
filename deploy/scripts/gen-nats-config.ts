// Generates the nats-server configuration shipped in deploy/nats/ from the one
// permission table (libs/service-kit/src/nats-permissions.ts): a three-server
// JetStream cluster, one user per service plus the stream provisioner, every
// password taken from the server's environment (NATS_PASSWORD_<USER>, a bcrypt
// hash or a plain password, see deploy/README.md "NATS").
//   node deploy/scripts/gen-nats-config.ts                     write deploy/nats/nats-server.conf
//   node deploy/scripts/gen-nats-config.ts --check             exit 1 if it is stale
//   node deploy/scripts/gen-nats-config.ts --namespace ns --stdout   the same for NATS_NAMESPACE=ns
// deploy/test/nats-config.test.ts runs the --check comparison and nats-server -t.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderNatsServerConfig } from '@csda/service-kit';

export const natsConfigFile = join(import.meta.dirname, '..', 'nats', 'nats-server.conf');

/** Cluster settings for a StatefulSet `nats` of three pods (nats-0.nats …) with SERVER_NAME = the pod name. */
export const CLUSTER_LINES = [
  '# One server of a three-node cluster (StatefulSet "nats", headless Service "nats"):',
  '# SERVER_NAME = the pod name (env from metadata.name). Single server: drop the cluster block.',
  'server_name: $SERVER_NAME',
  'http_port: 8222',
  'cluster {',
  '  name: "csda"',
  '  listen: "0.0.0.0:6222"',
  '  routes: [',
  '    "nats://nats-0.nats:6222"',
  '    "nats://nats-1.nats:6222"',
  '    "nats://nats-2.nats:6222"',
  '  ]',
  '}',
];

export function renderShippedNatsConfig(namespace = ''): string {
  return renderNatsServerConfig({ namespace, listen: '0.0.0.0:4222', storeDir: '/data/jetstream', extra: CLUSTER_LINES });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, stdout: { type: 'boolean' }, namespace: { type: 'string' } } });
  const text = renderShippedNatsConfig(values.namespace ?? '');
  if (values.stdout) return void process.stdout.write(text);
  if (values.check) {
    if (readFileSync(natsConfigFile, 'utf8') !== text) {
      console.error('deploy/nats/nats-server.conf is out of date; run: node deploy/scripts/gen-nats-config.ts');
      process.exit(1);
    }
    return;
  }
  writeFileSync(natsConfigFile, text);
  console.log('deploy/nats/nats-server.conf written');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
