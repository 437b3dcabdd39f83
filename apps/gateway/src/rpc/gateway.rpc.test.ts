import { actingFor, servicePrincipal, type Principal } from '@csda/auth';
import { AuthorizationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { requireScheduler } from './gateway.rpc.ts';

describe('requireScheduler', () => {
  const scheduler = servicePrincipal('scheduler', []);

  it('lets the scheduler through on its own behalf', () => {
    expect(() => requireScheduler(scheduler)).not.toThrow();
    expect(() => requireScheduler(servicePrincipal('scheduler', ['secrets:admin']))).not.toThrow();
  });

  it('refuses users (whatever their id or permissions), other services and the scheduler acting for a user', () => {
    const refused: Principal[] = [
      { kind: 'user', id: 'service:scheduler', name: 'scheduler', roles: ['ADMIN'], permissions: ['system:read'] },
      { kind: 'user', id: 'u-1', name: 'admin', roles: ['ADMIN'], permissions: ['system:read'] },
      servicePrincipal('gateway', ['system:read']),
      servicePrincipal('tool-runner', []),
      actingFor(scheduler, { id: 'u-1', name: 'alice', roles: ['USER'] }, [['secrets:read', 's-1']]),
      { ...scheduler, scope: [] },
    ];
    for (const principal of refused) expect(() => requireScheduler(principal), JSON.stringify(principal)).toThrow(AuthorizationError);
  });
});
