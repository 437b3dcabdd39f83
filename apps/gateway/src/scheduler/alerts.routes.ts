import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { backendCallOptions } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, pageQuery, protectedErrorResponses } from '../http/schemas.ts';
import type { SchedulerRouteDeps } from './scheduler-routes.deps.ts';
import { alertSchema, alertToJson, createWebhookBody, flag, listAlertsQuery, webhookSchema, webhookToJson } from './scheduler.schemas.ts';

const errors = { 404: errorEnvelopeSchema, 409: errorEnvelopeSchema, ...protectedErrorResponses };

/** `/api/v1/alerts…`: your alerts (`alerts:read`; all with system:read) and the alert webhooks (`alerts:admin`). */
export function alertRoutes(deps: SchedulerRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'scheduler');
  const tags = ['alerts'];
  const read = deps.authorize('alerts:read');
  const admin = deps.authorize('alerts:admin');

  return async (app) => {
    app.get(
      '',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Alerts, newest first (rotation due or failed, secret expiring or expired)', querystring: listAlertsQuery, response: { 200: pageOf(alertSchema, 'AlertPage'), ...errors } } },
      async (request) => {
        const q = request.query;
        const res = await deps.scheduler.listAlerts({ limit: q.limit, offset: q.offset, kind: q.kind ?? '', acknowledged: flag(q.acknowledged) }, await callOptions(request));
        return { items: res.items.map(alertToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );

    app.post(
      '/:id/ack',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Acknowledge an alert (idempotent)', params: idParams, response: { 200: alertSchema, ...errors } } },
      async (request) => alertToJson((await deps.scheduler.ackAlert({ id: request.params.id }, await callOptions(request))).alert!),
    );

    app.get(
      '/webhooks',
      { preHandler: admin, schema: { tags, security: bearerAuth, summary: 'Alert webhooks', querystring: pageQuery, response: { 200: pageOf(webhookSchema, 'AlertWebhookPage'), ...errors } } },
      async (request) => {
        const { limit, offset } = request.query;
        const res = await deps.scheduler.listAlertWebhooks({}, await callOptions(request));
        return { items: res.items.slice(offset, offset + limit).map(webhookToJson), total: res.items.length, limit, offset };
      },
    );

    app.post(
      '/webhooks',
      { preHandler: admin, schema: { tags, security: bearerAuth, summary: 'Add a webhook that receives alerts, signed per Standard Webhooks', body: createWebhookBody, response: { 201: webhookSchema, ...errors } } },
      async (request, reply) => {
        const b = request.body;
        const res = await deps.scheduler.createAlertWebhook({ url: b.url, kinds: b.kinds, signingSecretId: b.signing_secret_id, description: b.description }, await callOptions(request));
        return reply.status(201).send(webhookToJson(res.webhook!));
      },
    );

    app.delete(
      '/webhooks/:id',
      { preHandler: admin, schema: { tags, security: bearerAuth, summary: 'Remove an alert webhook', params: idParams, response: { 204: z.null(), ...errors } } },
      async (request, reply) => {
        await deps.scheduler.deleteAlertWebhook({ id: request.params.id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );
  };
}
