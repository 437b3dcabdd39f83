import type { CallOptions, Client } from '@connectrpc/connect';
import type { OnBehalfOf, Permission } from '@csda/auth';
import type { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import type { ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { EntityManager } from '@mikro-orm/postgresql';

/** The schedule's owner as the platform knows them now (GetUsers at fire time, the caller at create/update). */
export interface Owner {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
}

/** A rotation job as the scheduler's job queue takes it (jobs/job-queue.ts RotationJobRequest). */
export interface RotationJob {
  jobId: string;
  secretId: string;
  expectedVersion: number;
  dueAtMs: number;
  ownerId: string;
  trigger: 'due' | 'schedule' | 'manual';
  actingFor?: { userId: string; username: string; roles: string[] };
  scheduleId?: string;
  scheduleRunId?: string;
}

/** The services a target reaches, acting for the schedule's owner. */
export type TargetAudience = 'vault' | 'tool-runner' | 'document-ingest';

/** What targets need from the rest of the scheduler: narrow on purpose. */
export interface TargetDeps {
  readonly vault: Pick<Client<typeof VaultService>, 'getSecret'>;
  readonly toolRunner: Pick<Client<typeof ToolRunnerService>, 'getTool' | 'executeTool' | 'getExecution'>;
  readonly documents: Pick<Client<typeof DocumentIngestService>, 'getDocument' | 'reindexDocument' | 'getDocumentStatus'>;
  /** Call options for the scheduler acting for a user with exactly `grants` (clients.ts). */
  readonly asUser: (user: OnBehalfOf, grants: readonly (readonly [Permission, string])[], audience: TargetAudience) => Promise<CallOptions>;
  /** Records and publishes jobs in the caller's transaction (job-queue.ts enqueueRotations). */
  readonly enqueueRotations: (jobs: RotationJob[], em: EntityManager) => Promise<unknown>;
}

export interface FireContext {
  readonly scheduleId: string;
  readonly runId: string;
  readonly scheduledFor: Date;
  readonly owner: Owner;
  /** The claim's transaction: jobs are recorded in it. */
  readonly em: EntityManager;
}

/**
 * A service a target needs did not answer (unavailable, timed out): the loop
 * retries the slot for a while before it records the run as failed.
 */
export class TargetUnavailableError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'TargetUnavailableError';
  }
}

/**
 * A run either started work or failed with a readable reason (never a secret
 * value). `jobId` names what it started: a job record of the scheduler
 * (rotate_secret) or another service's record (run_tool: the execution id;
 * reindex_document: `<document id>:v<version>`), with what the run's detail
 * should say about it, if anything.
 */
export type FireOutcome = { readonly status: 'queued'; readonly jobId: string; readonly detail?: string } | { readonly status: 'failed'; readonly detail: string };

/** A case of the proto oneof, and the message it holds. */
export type TargetCase = NonNullable<ScheduleTarget['kind']['case']>;
export type TargetCaseValue<C extends TargetCase> = Extract<ScheduleTarget['kind'], { case: C }>['value'];

/** One target type: how it maps, is checked at create/update, and fires. */
export interface TargetDefinition<D, C extends TargetCase = TargetCase> {
  /** The proto oneof case of this target. */
  readonly protoCase: C;
  /** Proto → stored data; throws ValidationError naming `target.<field>` (every bad field at once). */
  fromProto(value: TargetCaseValue<C>): D;
  toProto(data: D): ScheduleTarget;
  /** Stored JSON → data; a row that does not fit is a bug, not user input. */
  parseStored(json: unknown): D;
  /** At create/update: the owner may use this target, else ValidationError naming the field. */
  authorize(deps: TargetDeps, owner: Owner, data: D): Promise<void>;
  /** At fire time, in the claim's transaction. */
  fire(deps: TargetDeps, ctx: FireContext, data: D): Promise<FireOutcome>;
  /**
   * For targets whose work the scheduler keeps no job record of: whether the
   * work a previous run started (`jobId`) is still going, for the overlap
   * policy — a description ("execution … is running"), or undefined when it
   * finished or is gone. Throws TargetUnavailableError when it cannot tell.
   */
  running?(deps: TargetDeps, owner: Owner, data: D, jobId: string): Promise<string | undefined>;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
