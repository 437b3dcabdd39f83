import { createHandlerContext } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus as Status } from '@csda/proto/grpc/health/v1/health_pb.js';
import { describe, expect, it } from 'vitest';
import { createHealthRpc, createHealthState } from './health.ts';

describe('health', () => {
  it('is not ready before start, ready after, and not ready once stopping', async () => {
    const health = createHealthState();
    health.addCheck('db', async () => ({ ok: true }));
    expect((await health.report()).ready).toBe(false);
    health.markStarted();
    expect((await health.report()).ready).toBe(true);
    health.markStopping();
    expect((await health.report()).ready).toBe(false);
  });

  it('is not ready when a check fails, throws or hangs', async () => {
    const health = createHealthState();
    health.markStarted();
    health.addCheck('failing', async () => ({ ok: false, detail: 'schema behind' }));
    health.addCheck('throwing', async () => Promise.reject(new Error('boom')));
    health.addCheck('hanging', () => new Promise(() => undefined));
    const report = await health.report();
    expect(report.ready).toBe(false);
    expect(report.checks.failing).toEqual({ ok: false, detail: 'schema behind' });
    expect(report.checks.throwing).toEqual({ ok: false, detail: 'boom' });
    expect(report.checks.hanging).toEqual({ ok: false, detail: 'check timed out' });
  });

  it('answers gRPC health for the overall, named and liveness services', async () => {
    const health = createHealthState();
    const rpc = createHealthRpc(health, ['csda.vault.v1.VaultService']);
    const ctx = createHandlerContext({ service: Health, method: Health.method.check, protocolName: 'grpc', requestMethod: 'POST', url: 'http://x/' });
    const check = (service: string) => rpc.check!({ $typeName: 'grpc.health.v1.HealthCheckRequest', service }, ctx);
    expect((await check('')).status).toBe(Status.NOT_SERVING);
    expect((await check('liveness')).status).toBe(Status.SERVING);
    health.markStarted();
    expect((await check('csda.vault.v1.VaultService')).status).toBe(Status.SERVING);
    await expect(check('csda.other.v1.Nope')).rejects.toThrow(/unknown service/);
  });
});
