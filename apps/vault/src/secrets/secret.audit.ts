import type { AuditFact } from '@csda/service-kit';
import type { CallContext } from './secret.service.ts';

const VAULT = 'service:vault';

/**
 * An audit record about one secret, never a value. A service records only
 * its own actions (the gateway's audit consumer dead-letters an event whose
 * actor is another service), so a service calling the vault — the
 * tool-runner revealing for a tool, the scheduler acting for a user — is
 * named as `caller`, the user it acts for as `on_behalf_of`.
 */
export function secretFact(ctx: CallContext, action: string, secretId: string, details: Record<string, string> = {}, outcome: 'success' | 'failure' = 'success'): AuditFact {
  const p = ctx.principal;
  const foreign = p.kind === 'service' && p.id !== VAULT;
  return {
    action,
    actor: foreign ? VAULT : p.id,
    actorName: foreign ? 'vault' : p.name,
    outcome,
    resourceType: 'secret',
    resourceId: secretId,
    ip: ctx.ip,
    requestId: ctx.requestId,
    details: { ...details, ...(foreign ? { caller: p.id } : {}), ...(p.onBehalfOf ? { on_behalf_of: p.onBehalfOf.id } : {}) },
  };
}
