import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export const natsUrl = (): string => process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A NATS namespace of its own (streams `<ns>_…`, subjects `<ns>.…`) for one test file. */
export function testNamespace(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** Deletes every stream of `namespace`. */
export async function deleteNamespace(namespace: string): Promise<void> {
  const nc = await connect({ servers: natsUrl() });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${namespace}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
