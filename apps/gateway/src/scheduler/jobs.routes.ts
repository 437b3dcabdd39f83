import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerAuth, errorEnvelopeSchema, pageOf, protectedErrorResponses } from '../http/schemas.ts';
import { backendCallOptions } from '../http/backend-call.ts';
import type { SchedulerRouteDeps } from './scheduler-routes.deps.ts';
import { jobIdParams, jobSchema, jobToJson, listJobsQuery, msOf } from './scheduler.schemas.ts';

const errors = { 404: errorEnvelopeSchema, ...protectedErrorResponses };

/** `/api/v1/jobs…` (`jobs:read`): every background job's status; owners see theirs, system:read all. */
export function jobRoutes(deps: SchedulerRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'scheduler');
  const tags = ['jobs'];
  const read = deps.authorize('jobs:read');

  return async (app) => {
    app.get(
      '',
      {
        preHandler: read,
        schema: { tags, security: bearerAuth, summary: 'Background jobs, newest first (filter by type, status, resource, creation time)', querystring: listJobsQuery, response: { 200: pageOf(jobSchema, 'JobPage'), ...errors } },
      },
      async (request) => {
        const q = request.query;
        const res = await deps.scheduler.listJobs(
          { limit: q.limit, offset: q.offset, type: q.type ?? '', status: q.status ?? '', resourceId: q.resource_id ?? '', sinceMs: msOf(q.since), untilMs: msOf(q.until) },
          await callOptions(request),
        );
        return { items: res.items.map(jobToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );

    app.get(
      '/:id',
      {
        preHandler: read,
        schema: { tags, security: bearerAuth, summary: 'One job: status, attempts, timings, last error (ids such as rotate:<secret id>:<ms>; colons may be percent-encoded)', params: jobIdParams, response: { 200: jobSchema, ...errors } },
      },
      async (request) => jobToJson((await deps.scheduler.getJob({ id: request.params.id }, await callOptions(request))).job!),
    );
  };
}
