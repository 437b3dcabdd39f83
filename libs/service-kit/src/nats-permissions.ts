import { Subjects, natsInboxPrefix } from './events.ts';

/**
 * Who may do what on NATS: one user per service, allowed only the subjects
 * DESIGN.md gives it ("Talking", "Security model"). This file is the single
 * source of truth; the nats-server configuration is generated from it
 * (nats-server-config.ts) and a test runs a real nats-server with it.
 */

/** The six services, each its own NATS user. */
export const NATS_SERVICES = ['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'] as const;
export type NatsServiceName = (typeof NATS_SERVICES)[number];

/**
 * The user that creates and updates the JetStream streams (provisioning, before
 * `migrate`). Services only verify streams: none can create, update, purge or
 * delete one, so a compromised service cannot drop AUDIT or a work queue.
 */
export const NATS_PROVISIONER = 'provisioner';

/** A durable pull consumer a service owns. Its dead letters go to `csda.dlq.<durable>`. */
export interface OwnedConsumer {
  readonly stream: string;
  readonly durable: string;
  /**
   * The filter subject the durable must be created with (un-namespaced, e.g.
   * `csda.events.document-ingest.document.>`): the user may then create it only
   * through the extended create subject naming that filter (or a narrower
   * one), so the server refuses a wider view of the stream.
   */
  readonly filter?: string;
}

/** What a service does on NATS beyond publishing its own audit and events. */
export interface NatsGrant {
  /** Work-queue subject roots it publishes (`csda.jobs.<queue>.>`). */
  readonly publishesJobs: readonly string[];
  /** Durable consumers it creates and reads; nobody else may touch them. */
  readonly consumers: readonly OwnedConsumer[];
  /** Read-only view of every stream's consumers (the gateway's /system/queues). */
  readonly inspectsConsumers?: boolean;
}

/**
 * The least-privilege table. Work queues (DESIGN.md): documents belong to
 * document-ingest, tools to the tool-runner; secret jobs are published by the
 * scheduler and consumed by the vault; chunk batches (JOBS_SEARCH) are
 * published by document-ingest and consumed by search. Only the gateway
 * consumes AUDIT (and EVENTS, to invalidate its cache); the scheduler reads EVENTS (job results, expiry) for job
 * records and alerts, search reads document-ingest's document events
 * (deleted, access changed) and document-ingest reads search's
 * document.indexed. Durable names start with the owner's name.
 */
export const NATS_GRANTS: Readonly<Record<NatsServiceName, NatsGrant>> = {
  gateway: {
    publishesJobs: [],
    consumers: [
      { stream: 'AUDIT', durable: 'gateway-audit-log' },
      // The cache's invalidation feed: every service's change events (ResourceChanged, document and secret facts).
      { stream: 'EVENTS', durable: 'gateway-cache-events', filter: 'csda.events.>' },
    ],
    inspectsConsumers: true,
  },
  vault: { publishesJobs: [], consumers: [{ stream: 'JOBS_SECRETS', durable: 'vault-secret-jobs' }] },
  'tool-runner': { publishesJobs: ['tools'], consumers: [{ stream: 'JOBS_TOOLS', durable: 'tool-runner-tool-jobs' }] },
  'document-ingest': {
    publishesJobs: ['documents', 'search'],
    consumers: [
      { stream: 'JOBS_DOCUMENTS', durable: 'document-ingest-document-jobs' },
      // Only search's confirmation that a version is queryable (the document becomes ready), not the whole of EVENTS.
      { stream: 'EVENTS', durable: 'document-ingest-search-events', filter: 'csda.events.search.document.indexed' },
    ],
  },
  search: {
    publishesJobs: [],
    consumers: [
      { stream: 'JOBS_SEARCH', durable: 'search-index-jobs' },
      // Only document-ingest's document facts (deleted, access changed), not the whole of EVENTS.
      { stream: 'EVENTS', durable: 'search-document-events', filter: 'csda.events.document-ingest.document.>' },
    ],
  },
  scheduler: { publishesJobs: ['secrets'], consumers: [{ stream: 'EVENTS', durable: 'scheduler-events' }] },
};

/** A nats-server `permissions` block. */
export interface NatsPermissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
}

/** The NATS user name of `service` (or the provisioner) under a namespace: `gateway`, or `<ns>_gateway`. */
export function natsUserName(namespace: string, service: string): string {
  return namespace ? `${namespace}_${service}` : service;
}

function inbox(user: string): NatsPermissions['subscribe'] {
  return { allow: [`${natsInboxPrefix(user)}.>`] };
}

function streamNames(subjects: Subjects): string[] {
  return subjects.streams().map((s) => s.name);
}

/** `service`'s permissions under `namespace` (stream names and subjects are namespaced like {@link Subjects}). */
export function natsServicePermissions(namespace: string, service: NatsServiceName): NatsPermissions {
  const subjects = new Subjects(namespace);
  const grant = NATS_GRANTS[service];
  const api = '$JS.API';
  const publish = [
    subjects.subject(`csda.audit.${service}.>`),
    subjects.subject(`csda.events.${service}.>`),
    ...grant.publishesJobs.map((queue) => subjects.subject(`csda.jobs.${queue}.>`)),
    // Checked by jetstreamManager() and ensureStreams (verify only).
    `${api}.INFO`,
    ...streamNames(subjects).map((name) => `${api}.STREAM.INFO.${name}`),
  ];
  for (const { stream, durable, filter } of grant.consumers) {
    const name = subjects.stream(stream);
    // Create/update: the 2.9 extended subject (with the filter), and the older forms — or, for a
    // durable bound to a filter, only the extended subject naming it (the server checks the config's
    // filter_subject against the subject's).
    const create = filter
      ? [`${api}.CONSUMER.CREATE.${name}.${durable}.${subjects.subject(filter)}`]
      : [`${api}.CONSUMER.CREATE.${name}.${durable}`, `${api}.CONSUMER.CREATE.${name}.${durable}.>`, `${api}.CONSUMER.DURABLE.CREATE.${name}.${durable}`];
    publish.push(
      subjects.deadLetter(durable),
      ...create,
      `${api}.CONSUMER.INFO.${name}.${durable}`,
      `${api}.CONSUMER.MSG.NEXT.${name}.${durable}`,
      // ack / nak / term / in-progress go to the message's reply subject.
      `$JS.ACK.${name}.${durable}.>`,
    );
  }
  if (grant.inspectsConsumers) {
    for (const name of streamNames(subjects)) publish.push(`${api}.CONSUMER.LIST.${name}`, `${api}.CONSUMER.NAMES.${name}`, `${api}.CONSUMER.INFO.${name}.*`);
  }
  return { publish: { allow: [...new Set(publish)] }, subscribe: inbox(natsUserName(namespace, service)) };
}

/** The provisioner: create, update and inspect the namespace's streams; never purge or delete them. */
export function natsProvisionerPermissions(namespace: string): NatsPermissions {
  const subjects = new Subjects(namespace);
  const publish = ['$JS.API.INFO'];
  for (const name of streamNames(subjects)) {
    publish.push(`$JS.API.STREAM.CREATE.${name}`, `$JS.API.STREAM.UPDATE.${name}`, `$JS.API.STREAM.INFO.${name}`);
  }
  return { publish: { allow: publish }, subscribe: inbox(natsUserName(namespace, NATS_PROVISIONER)) };
}

/** Every user of a namespace with its permissions: the six services, then the provisioner. */
export function natsUsers(namespace: string): { user: string; role: string; permissions: NatsPermissions }[] {
  return [
    ...NATS_SERVICES.map((service) => ({ user: natsUserName(namespace, service), role: service, permissions: natsServicePermissions(namespace, service) })),
    { user: natsUserName(namespace, NATS_PROVISIONER), role: NATS_PROVISIONER, permissions: natsProvisionerPermissions(namespace) },
  ];
}
