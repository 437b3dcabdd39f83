import type { Client } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import type { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { PrincipalSigner } from '../http/backend-call.ts';

/** What the schedules, jobs and alerts routes need: the scheduler's client and the caller's identity. */
export interface SchedulerRouteDeps {
  readonly scheduler: Client<typeof SchedulerService>;
  readonly signer: PrincipalSigner;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
}
