import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { AlertSchema, AlertWebhookSchema, type Alert, type AlertWebhook, type SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createAlertService, type AlertServiceDeps } from './alert.service.ts';
import type { AlertRecord, WebhookRecord } from './alert.types.ts';

type AlertsRpc = Pick<ServiceImpl<typeof SchedulerService>, 'listAlerts' | 'ackAlert' | 'listAlertWebhooks' | 'createAlertWebhook' | 'deleteAlertWebhook'>;

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);

export function alertToProto(a: AlertRecord): Alert {
  return create(AlertSchema, {
    id: a.id,
    kind: a.kind,
    severity: a.severity,
    ownerId: a.ownerId,
    resourceType: a.resourceType,
    resourceId: a.resourceId,
    message: a.message,
    createdAtMs: ms(a.createdAt),
    acknowledgedAtMs: ms(a.acknowledgedAt),
    acknowledgedBy: a.acknowledgedBy ?? '',
  });
}

export function webhookToProto(w: WebhookRecord): AlertWebhook {
  return create(AlertWebhookSchema, {
    id: w.id,
    url: w.url,
    kinds: [...w.kinds],
    signingSecretId: w.signingSecretId,
    createdBy: w.createdBy,
    createdAtMs: ms(w.createdAt),
    description: w.description,
  });
}

/** Proto ↔ domain mapping for the alert RPCs of SchedulerService; the rules live in alert.service.ts. */
export function createAlertsRpc(deps: AlertServiceDeps): AlertsRpc {
  const service = createAlertService(deps);
  return {
    async listAlerts(req, ctx) {
      const page = await service.list(principalFrom(ctx), { kind: req.kind, acknowledged: req.acknowledged, limit: req.limit, offset: req.offset });
      return { items: page.items.map(alertToProto), total: BigInt(page.total) };
    },
    async ackAlert(req, ctx) {
      return { alert: alertToProto(await service.ack(principalFrom(ctx), req.id)) };
    },
    async listAlertWebhooks(_req, ctx) {
      return { items: (await service.listWebhooks(principalFrom(ctx))).map(webhookToProto) };
    },
    async createAlertWebhook(req, ctx) {
      const webhook = await service.createWebhook(principalFrom(ctx), { url: req.url, kinds: req.kinds, signingSecretId: req.signingSecretId, description: req.description });
      return { webhook: webhookToProto(webhook) };
    },
    async deleteAlertWebhook(req, ctx) {
      await service.deleteWebhook(principalFrom(ctx), req.id);
      return {};
    },
  };
}
