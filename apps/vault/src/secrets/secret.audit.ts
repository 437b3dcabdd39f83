import type { AuditFact } from '@csda/service-kit';
import type { CallContext } from './secret.service.ts';

/** An audit record about one secret, by the caller; a service acting for a user names that user. Never a value. */
export function secretFact(ctx: CallContext, action: string, secretId: string, details: Record<string, string> = {}, outcome: 'success' | 'failure' = 'success'): AuditFact {
  return {
    action,
    actor: ctx.principal.id,
    actorName: ctx.principal.name,
    outcome,
    resourceType: 'secret',
    resourceId: secretId,
    ip: ctx.ip,
    requestId: ctx.requestId,
    details: ctx.principal.onBehalfOf ? { ...details, on_behalf_of: ctx.principal.onBehalfOf.id } : details,
  };
}
