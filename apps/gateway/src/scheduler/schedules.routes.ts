import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { backendCallOptions } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, pageQuery, protectedErrorResponses } from '../http/schemas.ts';
import type { SchedulerRouteDeps } from './scheduler-routes.deps.ts';
import { createScheduleBody, flag, listSchedulesQuery, scheduleRunSchema, scheduleRunToJson, scheduleSchema, scheduleToJson, updateScheduleBody } from './scheduler.schemas.ts';
import { targetToProto } from './schedule-target.ts';

const errors = { 404: errorEnvelopeSchema, 409: errorEnvelopeSchema, ...protectedErrorResponses };

/** `/api/v1/schedules…`: REST ↔ SchedulerService; the scheduler keeps owners to their own schedules. */
export function scheduleRoutes(deps: SchedulerRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'scheduler');
  const tags = ['schedules'];
  const read = deps.authorize('schedules:read');
  const write = deps.authorize('schedules:write');

  return async (app) => {
    app.get(
      '',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Your schedules (all of them with system:read)', querystring: listSchedulesQuery, response: { 200: pageOf(scheduleSchema, 'SchedulePage'), ...errors } } },
      async (request) => {
        const q = request.query;
        const res = await deps.scheduler.listSchedules({ limit: q.limit, offset: q.offset, enabled: flag(q.enabled), targetType: q.target_type ?? '' }, await callOptions(request));
        return { items: res.items.map(scheduleToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );

    app.post(
      '',
      {
        preHandler: write,
        schema: { tags, security: bearerAuth, summary: 'Create a schedule: a cron expression in a time zone, running a target as you', body: createScheduleBody, response: { 201: scheduleSchema, ...errors } },
      },
      async (request, reply) => {
        const b = request.body;
        const res = await deps.scheduler.createSchedule(
          {
            name: b.name,
            description: b.description,
            cron: b.cron,
            timeZone: b.time_zone,
            target: targetToProto(b.target),
            enabled: b.enabled,
            misfirePolicy: b.misfire_policy,
            overlapPolicy: b.overlap_policy,
          },
          await callOptions(request),
        );
        return reply.status(201).send(scheduleToJson(res.schedule!));
      },
    );

    app.get(
      '/:id',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'One schedule, with its next run', params: idParams, response: { 200: scheduleSchema, ...errors } } },
      async (request) => scheduleToJson((await deps.scheduler.getSchedule({ id: request.params.id }, await callOptions(request))).schedule!),
    );

    app.patch(
      '/:id',
      { preHandler: write, schema: { tags, security: bearerAuth, summary: 'Change a schedule (fields left out keep their value)', params: idParams, body: updateScheduleBody, response: { 200: scheduleSchema, ...errors } } },
      async (request) => {
        const b = request.body;
        const res = await deps.scheduler.updateSchedule(
          {
            id: request.params.id,
            name: b.name,
            description: b.description,
            cron: b.cron,
            timeZone: b.time_zone,
            target: b.target ? targetToProto(b.target) : undefined,
            enabled: b.enabled,
            misfirePolicy: b.misfire_policy,
            overlapPolicy: b.overlap_policy,
          },
          await callOptions(request),
        );
        return scheduleToJson(res.schedule!);
      },
    );

    app.delete(
      '/:id',
      { preHandler: write, schema: { tags, security: bearerAuth, summary: 'Delete a schedule (its runs and jobs stay on record)', params: idParams, response: { 204: z.null(), ...errors } } },
      async (request, reply) => {
        await deps.scheduler.deleteSchedule({ id: request.params.id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/:id/runs',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Runs of a schedule, newest first', params: idParams, querystring: pageQuery, response: { 200: pageOf(scheduleRunSchema, 'ScheduleRunPage'), ...errors } } },
      async (request) => {
        const q = request.query;
        const res = await deps.scheduler.listScheduleRuns({ scheduleId: request.params.id, limit: q.limit, offset: q.offset }, await callOptions(request));
        return { items: res.items.map(scheduleRunToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );
  };
}
