import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, servicePrincipal } from '@csda/auth';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, runCommand, startService, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A local OTLP/HTTP collector stand-in: it records what the service exports. */
describe('OpenTelemetry export', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let db: TestDatabase;
  let collector: Server;
  const received: { path: string; type: string; body: Buffer }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('otlp');
    collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
  });
  afterAll(async () => {
    collector?.close();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('exports the RPC span over OTLP, in the trace the caller started', async () => {
    const address = collector.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const env = { ...keys.envFor('vault'), DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` };
    expect((await runCommand('vault', 'migrate', env)).code).toBe(0);
    const vault = await startService('vault', env);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    try {
      const client = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${vault.rpcPort}` }));
      const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
      await client.getInfo({}, { headers: { ...principalHeaders(await signer.sign(servicePrincipal('gateway', ['system:read']), 'vault')), traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    } finally {
      expect(await vault.stop()).toBe(0); // shutdown flushes the batch processor
    }
    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.type).toContain('application/x-protobuf');
    const all = Buffer.concat(traces.map((t) => t.body));
    expect(all.includes(Buffer.from(traceId, 'hex'))).toBe(true);
    expect(all.includes(Buffer.from('csda.vault.v1.VaultService/GetInfo'))).toBe(true);
  });
});
