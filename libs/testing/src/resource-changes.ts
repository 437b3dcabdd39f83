import { fromBinary } from '@bufbuild/protobuf';
import { ResourceChangedSchema, type ResourceChanged } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import { query } from './database.ts';

/** A ResourceChanged event with the subject it was (or will be) published on. */
export type ResourceChange = ResourceChanged & { subject: string };

/**
 * The ResourceChanged events a service wrote to `<schema>.outbox`, in order;
 * only those about `aggregate` (`tool:<id>`, `document:<id>`…) when given.
 */
export async function outboxResourceChanges(databaseUrl: string, schema: string, aggregate?: string): Promise<ResourceChange[]> {
  const rows = await query<{ subject: string; payload: Buffer }>(
    databaseUrl,
    `select subject, payload from "${schema}".outbox where event_type = $1 ${aggregate ? 'and aggregate = $2' : ''} order by id`,
    aggregate ? [ResourceChangedSchema.typeName, aggregate] : [ResourceChangedSchema.typeName],
  );
  return rows.map((r) => ({ ...fromBinary(ResourceChangedSchema, r.payload), subject: r.subject }));
}

/** The ResourceChanged events about `resourceId` on a stream (EVENTS, namespaced), in stream order. */
export async function publishedResourceChanges(jsm: JetStreamManager, stream: string, resourceId: string): Promise<ResourceChange[]> {
  const info = await jsm.streams.info(stream);
  const out: ResourceChange[] = [];
  for (let seq = info.state.first_seq; seq > 0 && seq <= info.state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (!msg || msg.header?.get('Csda-Event-Type') !== ResourceChangedSchema.typeName) continue;
    const event = fromBinary(ResourceChangedSchema, msg.data);
    if (event.resourceId === resourceId) out.push({ ...event, subject: msg.subject });
  }
  return out;
}
