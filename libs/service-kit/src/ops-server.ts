import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Registry } from 'prom-client';
import type { HealthState } from './health.ts';

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly health: HealthState;
  readonly registry: Registry;
}

/**
 * HTTP/1.1 endpoints for humans and Prometheus: `/healthz` (alive),
 * `/readyz` (200 only when ready, JSON naming each check) and `/metrics`.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ status: 'method_not_allowed' }));
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      void options.health.report().then(
        (report) => send(report.ready ? 200 : 503, JSON.stringify({ status: report.ready ? 'ready' : 'not_ready', checks: report.checks })),
        () => send(503, JSON.stringify({ status: 'not_ready' })),
      );
      return;
    }
    if (path === '/metrics') {
      void options.registry.metrics().then(
        (text) => send(200, text, options.registry.contentType),
        () => send(500, ''),
      );
      return;
    }
    send(404, JSON.stringify({ status: 'not_found' }));
  });
  server.keepAliveTimeout = 5_000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  return server;
}
