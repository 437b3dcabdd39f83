import { describe, expect, it } from 'vitest';
import { baseConfigSchema, ConfigError, loadConfig } from './config.ts';
import { natsAuth } from './events.ts';
import { NATS_GRANTS, NATS_SERVICES, natsProvisionerPermissions, natsServicePermissions, natsUserName, natsUsers } from './nats-permissions.ts';
import { natsPasswordEnv, renderNatsServerConfig } from './nats-server-config.ts';

describe('NATS permission table', () => {
  it('gives each service its own audit and event subjects, never a wildcard over another service', () => {
    for (const service of NATS_SERVICES) {
      const allow = natsServicePermissions('', service).publish.allow;
      expect(allow).toContain(`csda.audit.${service}.>`);
      expect(allow).toContain(`csda.events.${service}.>`);
      // Work queues are named by their work, not their owner (JOBS_SEARCH is document-ingest's to publish): checked below.
      const data = allow.filter((s) => !s.startsWith('$JS.') && !s.startsWith('csda.jobs.'));
      for (const other of NATS_SERVICES.filter((o) => o !== service)) {
        expect(data.filter((s) => s.includes(`.${other}.`))).toEqual([]);
      }
      expect(allow.some((s) => s === '>' || s.startsWith('csda.audit.>') || s.startsWith('$JS.API.>') || s.includes('STREAM.DELETE') || s.includes('STREAM.PURGE'))).toBe(false);
    }
  });

  it('lets only the gateway consume AUDIT, and only through its durable', () => {
    const consumersOfAudit = NATS_SERVICES.filter((s) => natsServicePermissions('', s).publish.allow.some((a) => a.startsWith('$JS.API.CONSUMER.CREATE.AUDIT')));
    expect(consumersOfAudit).toEqual(['gateway']);
    expect(NATS_GRANTS.gateway.consumers.filter((c) => c.stream === 'AUDIT')).toEqual([{ stream: 'AUDIT', durable: 'gateway-audit-log' }]);
  });

  it('lets the gateway read EVENTS only through its cache durable, bound to the events filter', () => {
    const allow = natsServicePermissions('', 'gateway').publish.allow.filter((a) => a.startsWith('$JS.API.CONSUMER.CREATE.EVENTS'));
    expect(allow).toEqual(['$JS.API.CONSUMER.CREATE.EVENTS.gateway-cache-events.csda.events.>']);
  });

  it('work queues: scheduler publishes secret jobs, the vault consumes them; ingest and tool-runner own theirs', () => {
    const pub = (s: (typeof NATS_SERVICES)[number]) => natsServicePermissions('', s).publish.allow.filter((a) => a.startsWith('csda.jobs.'));
    expect(pub('scheduler')).toEqual(['csda.jobs.secrets.>']);
    expect(pub('vault')).toEqual([]);
    expect(pub('document-ingest')).toEqual(['csda.jobs.documents.>', 'csda.jobs.search.>']);
    expect(pub('tool-runner')).toEqual(['csda.jobs.tools.>']);
    expect(pub('gateway')).toEqual([]);
    expect(pub('search')).toEqual([]);
    expect(natsServicePermissions('', 'vault').publish.allow).toContain('$JS.API.CONSUMER.MSG.NEXT.JOBS_SECRETS.vault-secret-jobs');
    expect(natsServicePermissions('', 'vault').publish.allow.filter((a) => a.startsWith('csda.dlq.'))).toEqual(['csda.dlq.vault-secret-jobs']);
  });

  it('search consumes JOBS_SEARCH, and of EVENTS only document-ingest\'s document subjects (no other create form)', () => {
    const allow = natsServicePermissions('', 'search').publish.allow;
    expect(NATS_GRANTS.search.consumers.map((c) => `${c.stream}/${c.durable}`)).toEqual(['JOBS_SEARCH/search-index-jobs', 'EVENTS/search-document-events']);
    expect(allow).toContain('$JS.API.CONSUMER.MSG.NEXT.JOBS_SEARCH.search-index-jobs');
    expect(allow).toContain('$JS.API.CONSUMER.CREATE.JOBS_SEARCH.search-index-jobs.>');
    expect(allow.filter((a) => a.includes('CREATE.EVENTS'))).toEqual(['$JS.API.CONSUMER.CREATE.EVENTS.search-document-events.csda.events.document-ingest.document.>']);
    expect(allow.some((a) => a.includes('DURABLE.CREATE.EVENTS'))).toBe(false);
    expect(allow.filter((a) => a.startsWith('csda.dlq.'))).toEqual(['csda.dlq.search-index-jobs', 'csda.dlq.search-document-events']);
    expect(natsServicePermissions('ns1', 'search').publish.allow).toContain('$JS.API.CONSUMER.CREATE.ns1_EVENTS.search-document-events.ns1.csda.events.document-ingest.document.>');
    // The scheduler's EVENTS durable keeps every create form (it reads all of EVENTS).
    expect(natsServicePermissions('', 'scheduler').publish.allow).toContain('$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.scheduler-events');
  });

  it('document-ingest consumes JOBS_DOCUMENTS, and of EVENTS only search\'s document.indexed (no other create form)', () => {
    const allow = natsServicePermissions('', 'document-ingest').publish.allow;
    expect(NATS_GRANTS['document-ingest'].consumers.map((c) => `${c.stream}/${c.durable}`)).toEqual(['JOBS_DOCUMENTS/document-ingest-document-jobs', 'EVENTS/document-ingest-search-events']);
    expect(allow).toContain('$JS.API.CONSUMER.MSG.NEXT.JOBS_DOCUMENTS.document-ingest-document-jobs');
    expect(allow.filter((a) => a.includes('CREATE.EVENTS'))).toEqual(['$JS.API.CONSUMER.CREATE.EVENTS.document-ingest-search-events.csda.events.search.document.indexed']);
    expect(allow.some((a) => a.includes('DURABLE.CREATE.EVENTS'))).toBe(false);
    expect(allow).toContain('$JS.API.CONSUMER.MSG.NEXT.EVENTS.document-ingest-search-events');
    expect(allow.filter((a) => a.startsWith('csda.dlq.'))).toEqual(['csda.dlq.document-ingest-document-jobs', 'csda.dlq.document-ingest-search-events']);
    // It still publishes only its own events.
    expect(allow.filter((a) => a.startsWith('csda.events.'))).toEqual(['csda.events.document-ingest.>']);
  });

  it('namespaces every subject, stream, user and inbox', () => {
    const p = natsServicePermissions('ns1', 'gateway');
    expect(p.publish.allow).toContain('ns1.csda.audit.gateway.>');
    expect(p.publish.allow).toContain('$JS.API.CONSUMER.CREATE.ns1_AUDIT.gateway-audit-log.>');
    expect(p.publish.allow.filter((a) => a.startsWith('csda.'))).toEqual([]);
    expect(p.subscribe.allow).toEqual(['_INBOX.ns1_gateway.>']);
    expect(natsProvisionerPermissions('ns1').publish.allow).toContain('$JS.API.STREAM.CREATE.ns1_EVENTS');
    expect(natsUsers('ns1').map((u) => u.user)).toEqual([...NATS_SERVICES.map((s) => `ns1_${s}`), 'ns1_provisioner']);
    expect(natsUserName('', 'vault')).toBe('vault');
  });

  it('renders passwords from the server environment by default, literals quoted', () => {
    const text = renderNatsServerConfig({ namespace: '', listen: '0.0.0.0:4222', storeDir: '/data' });
    expect(text).toContain(`password: $${natsPasswordEnv('tool-runner')}`);
    expect(natsPasswordEnv('tool-runner')).toBe('NATS_PASSWORD_TOOL_RUNNER');
    const literal = renderNatsServerConfig({ namespace: '', listen: '0.0.0.0:4222', storeDir: '/data', password: () => ({ value: 'a"b$c' }) });
    expect(literal).toContain('password: "a\\"b$c"');
  });
});

describe('NATS_USER / NATS_PASSWORD', () => {
  it('are set together or not at all, and reach connectNats', () => {
    expect(() => loadConfig(baseConfigSchema, { NATS_USER: 'vault' })).toThrow(ConfigError);
    expect(() => loadConfig(baseConfigSchema, { NATS_PASSWORD: 'x' })).toThrow(/NATS_USER: required when NATS_PASSWORD is set/);
    expect(() => loadConfig(baseConfigSchema, { NATS_USER: 'a.b', NATS_PASSWORD: 'x' })).toThrow(/NATS_USER/);
    expect(natsAuth(loadConfig(baseConfigSchema, { NATS_USER: 'vault', NATS_PASSWORD: 'pw' }))).toEqual({ user: 'vault', password: 'pw' });
    expect(natsAuth(loadConfig(baseConfigSchema, {}))).toBeUndefined();
  });

  it('never shows the password in a configuration error', () => {
    const err = (() => {
      try {
        loadConfig(baseConfigSchema, { NATS_PASSWORD: 'hunter2-secret' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).not.toContain('hunter2-secret');
  });
});
