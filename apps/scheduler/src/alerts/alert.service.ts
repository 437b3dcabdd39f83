import { Code, ConnectError } from '@connectrpc/connect';
import { hasPermission, requireScoped, type Principal } from '@csda/auth';
import { ConflictError, ExternalServiceError, NotFoundError, ValidationError } from '@csda/errors';
import { EgressRefusedError, isWebhookSecret } from '@csda/net';
import type { AuditOutbox } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createAlertRepository, type AlertVisibility } from './alert.repository.ts';
import { ALERT_KINDS, isAlertKind, type AlertKind, type AlertRecord, type RevealSigningSecret, type WebhookRecord } from './alert.types.ts';

export interface AlertServiceDeps {
  /** A fresh EntityManager per call (`() => orm.em.fork()`). */
  readonly em: () => EntityManager;
  /**
   * Reveals a webhook's signing secret as its creator: at create, it proves
   * the creator can reveal the secret and that it holds a `whsec_…` value.
   * Omitted: not checked at create (delivery fails until it is right).
   */
  readonly revealSigningSecret?: RevealSigningSecret;
  /**
   * Throws EgressRefusedError when the SSRF guard would refuse `url` (a
   * private, loopback, metadata… target not allow-listed). Checked again at
   * every delivery, where DNS may answer differently.
   */
  readonly checkDestination?: (url: string) => Promise<void>;
  /** Webhook creations and deletions are recorded here. */
  readonly audit?: Pick<AuditOutbox, 'record'>;
  /** Most active webhooks; default 50. */
  readonly maxWebhooks?: number;
}

export interface NewWebhookRequest {
  readonly url: string;
  readonly kinds: readonly string[];
  readonly signingSecretId: string;
  readonly description: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_URL = 2048;
const MAX_DESCRIPTION = 500;

const paging = (limit: number, offset: number) => ({ limit: limit <= 0 ? 50 : Math.min(limit, 200), offset: Math.max(0, offset) });

/** Users see their own alerts; `system:read` sees all. A service acting for a user never lists. */
function visibility(principal: Principal): AlertVisibility {
  return { userId: principal.id, all: hasPermission(principal, 'system:read') };
}

function checkUrl(text: string): string | undefined {
  if (text.length === 0) return 'required';
  if (text.length > MAX_URL) return `at most ${MAX_URL} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'https:') return 'must be an https URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not have a fragment';
  return undefined;
}

/** Alerts (list, acknowledge) and the webhooks they are delivered to. */
export function createAlertService(deps: AlertServiceDeps) {
  const maxWebhooks = deps.maxWebhooks ?? 50;

  async function verifySigningSecret(principal: Principal, signingSecretId: string): Promise<void> {
    if (!deps.revealSigningSecret) return;
    let value: string;
    try {
      // No roles: the secret must be the creator's own (a role share would not hold at delivery, which acts for the id alone).
      value = await deps.revealSigningSecret({ signingSecretId, owner: { id: principal.id, name: principal.name, roles: [] } });
    } catch (err) {
      const refused = err instanceof ConnectError && [Code.NotFound, Code.PermissionDenied, Code.InvalidArgument, Code.FailedPrecondition, Code.AlreadyExists].includes(err.code);
      if (refused) throw new ValidationError('Invalid alert webhook', { signing_secret_id: 'no active secret you may reveal has this id' });
      throw new ExternalServiceError('vault', err);
    }
    if (!isWebhookSecret(value)) {
      throw new ValidationError('Invalid alert webhook', { signing_secret_id: 'must hold a Standard Webhooks signing secret ("whsec_" and base64)' });
    }
  }

  return {
    async list(principal: Principal, filter: { kind: string; acknowledged: string; limit: number; offset: number }) {
      requireScoped(principal, 'alerts:read');
      const problems: Record<string, string> = {};
      if (filter.kind && !isAlertKind(filter.kind)) problems.kind = `expected one of ${ALERT_KINDS.join(', ')}`;
      if (filter.acknowledged && filter.acknowledged !== 'true' && filter.acknowledged !== 'false') problems.acknowledged = 'expected "true" or "false"';
      if (Object.keys(problems).length > 0) throw new ValidationError('Invalid alert filter', problems);
      return createAlertRepository(deps.em()).list(visibility(principal), {
        kind: (filter.kind || undefined) as AlertKind | undefined,
        acknowledged: filter.acknowledged ? filter.acknowledged === 'true' : undefined,
        ...paging(filter.limit, filter.offset),
      });
    },

    /** Acknowledges one of the caller's alerts (any alert with `system:read`); repeating it changes nothing. */
    async ack(principal: Principal, id: string): Promise<AlertRecord> {
      requireScoped(principal, 'alerts:read');
      if (!UUID.test(id)) throw new NotFoundError('alert', id.slice(0, 64));
      const alert = await createAlertRepository(deps.em()).ack(visibility(principal), id, principal.id);
      if (!alert) throw new NotFoundError('alert', id);
      return alert;
    },

    async listWebhooks(principal: Principal): Promise<WebhookRecord[]> {
      requireScoped(principal, 'alerts:admin');
      return createAlertRepository(deps.em()).listWebhooks();
    },

    async createWebhook(principal: Principal, req: NewWebhookRequest): Promise<WebhookRecord> {
      requireScoped(principal, 'alerts:admin');
      const problems: Record<string, string> = {};
      const urlProblem = checkUrl(req.url);
      if (urlProblem) problems.url = urlProblem;
      const unknown = req.kinds.filter((k) => !isAlertKind(k));
      if (unknown.length > 0) problems.kinds = `unknown kind ${JSON.stringify(unknown[0]!.slice(0, 64))}; expected some of ${ALERT_KINDS.join(', ')} (none = all)`;
      if (!UUID.test(req.signingSecretId)) problems.signing_secret_id = 'must be the id (a UUID) of a vault secret holding the signing secret';
      if (req.description.length > MAX_DESCRIPTION) problems.description = `at most ${MAX_DESCRIPTION} characters`;
      if (!problems.url && deps.checkDestination) {
        try {
          await deps.checkDestination(req.url);
        } catch (err) {
          if (!(err instanceof EgressRefusedError)) throw err;
          problems.url = `${err.message} (ALERT_WEBHOOK_ALLOW lists permitted private targets)`;
        }
      }
      if (Object.keys(problems).length > 0) throw new ValidationError('Invalid alert webhook', problems);
      const signingSecretId = req.signingSecretId.toLowerCase();
      await verifySigningSecret(principal, signingSecretId);

      const repo = createAlertRepository(deps.em());
      if ((await repo.countWebhooks()) >= maxWebhooks) throw new ConflictError(`At most ${maxWebhooks} alert webhooks; delete one first`);
      const webhook = await repo.createWebhook({
        url: req.url,
        kinds: [...new Set(req.kinds as AlertKind[])],
        signingSecretId,
        description: req.description,
        createdBy: principal.id,
        createdByName: principal.name,
      });
      await deps.audit?.record({ action: 'alert_webhook_created', actor: principal.id, actorName: principal.name, resourceType: 'alert_webhook', resourceId: webhook.id,
        details: { host: new URL(webhook.url).host, kinds: webhook.kinds.join(',') } });
      return webhook;
    },

    async deleteWebhook(principal: Principal, id: string): Promise<void> {
      requireScoped(principal, 'alerts:admin');
      if (!UUID.test(id) || !(await createAlertRepository(deps.em()).deleteWebhook(id))) throw new NotFoundError('alert webhook', id.slice(0, 64));
      await deps.audit?.record({ action: 'alert_webhook_deleted', actor: principal.id, actorName: principal.name, resourceType: 'alert_webhook', resourceId: id });
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
