import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type CallOptions, type Client } from '@connectrpc/connect';
import type { OnBehalfOf, Permission } from '@csda/auth';
import { ExternalServiceError, ValidationError } from '@csda/errors';
import { ScheduleTargetSchema, type ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { Secret, VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * What a schedule runs: a closed union, defined here and nowhere else. A new
 * target (run_tool, reindex_document) is one more entry in {@link TARGETS}
 * plus its case in the proto oneof and the migration's CHECK.
 */
interface TargetData {
  rotate_secret: { secret_id: string };
}

export type TargetType = keyof TargetData;
export type Target = { [K in TargetType]: { readonly type: K; readonly data: TargetData[K] } }[TargetType];

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

/** What targets need from the rest of the scheduler: narrow on purpose. */
export interface TargetDeps {
  readonly vault: Pick<Client<typeof VaultService>, 'getSecret'>;
  /** Call options for the scheduler acting for a user with exactly `grants` (clients.ts). */
  readonly asUser: (user: OnBehalfOf, grants: readonly (readonly [Permission, string])[], audience: 'vault') => Promise<CallOptions>;
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

/** A run either started a job or failed with a readable reason (never a secret value). */
export type FireOutcome = { readonly status: 'queued'; readonly jobId: string } | { readonly status: 'failed'; readonly detail: string };

interface TargetDefinition<K extends TargetType> {
  /** The proto oneof case of this target. */
  readonly protoCase: NonNullable<ScheduleTarget['kind']['case']>;
  /** Proto → stored data; throws ValidationError naming `target.<field>`. */
  fromProto(value: NonNullable<ScheduleTarget['kind']['value']>): TargetData[K];
  toProto(data: TargetData[K]): ScheduleTarget;
  /** Stored JSON → data; a row that does not fit is a bug, not user input. */
  parseStored(json: unknown): TargetData[K];
  /** At create/update: the owner may use this target, else ValidationError naming the field. */
  authorize(deps: TargetDeps, owner: Owner, data: TargetData[K]): Promise<void>;
  /** At fire time, in the claim's transaction. */
  fire(deps: TargetDeps, ctx: FireContext, data: TargetData[K]): Promise<FireOutcome>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const codeOf = (err: unknown) => (err instanceof ConnectError ? err.code : undefined);

/** The owner's view of a secret, fetched as the owner (scheduler acting for them, scoped to this secret). */
async function secretAsOwner(deps: TargetDeps, owner: Owner, secretId: string): Promise<Secret | undefined> {
  const grants: [Permission, string][] = [['secrets:read', secretId]];
  try {
    const { secret } = await deps.vault.getSecret({ id: secretId }, await deps.asUser({ id: owner.id, name: owner.name, roles: [...owner.roles] }, grants, 'vault'));
    return secret;
  } catch (err) {
    const code = codeOf(err);
    if (code === Code.NotFound || code === Code.PermissionDenied) return undefined;
    throw err;
  }
}

/**
 * Why `owner` may not rotate `secret` on a schedule, or undefined when they
 * may. The vault rotates a scheduled job only for the secret's owner (not for
 * an admin who merely sees it), so the owner is required here too, with
 * secrets:write; a `manual` secret has no generated value to rotate to.
 */
function rotateProblem(owner: Owner, secret: Secret | undefined): string | undefined {
  if (!secret || secret.ownerId !== owner.id) return 'no such secret, or not yours';
  if (!owner.permissions.includes('secrets:write')) return 'rotating a secret needs secrets:write';
  if (!secret.isActive) return 'the secret is inactive';
  if ((secret.rotation?.strategy || 'manual') === 'manual') return 'the secret rotates manually (rotation.strategy manual): the owner puts each new value';
  return undefined;
}

const rotateSecret: TargetDefinition<'rotate_secret'> = {
  protoCase: 'rotateSecret',
  fromProto(value) {
    const secretId = value.secretId.trim().toLowerCase();
    if (!UUID.test(secretId)) throw new ValidationError('Invalid target', { 'target.secret_id': 'a secret id (UUID)' });
    return { secret_id: secretId };
  },
  toProto(data) {
    return create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId: data.secret_id } } });
  },
  parseStored(json) {
    const id = (json as { secret_id?: unknown } | null)?.secret_id;
    if (typeof id !== 'string') throw new TypeError('stored rotate_secret target without secret_id');
    return { secret_id: id };
  },
  async authorize(deps, owner, data) {
    let secret: Secret | undefined;
    try {
      secret = await secretAsOwner(deps, owner, data.secret_id);
    } catch (err) {
      throw new ExternalServiceError('vault', err);
    }
    const problem = rotateProblem(owner, secret);
    if (problem) throw new ValidationError('Invalid target', { 'target.secret_id': problem });
  },
  async fire(deps, ctx, data) {
    let secret: Secret | undefined;
    try {
      secret = await secretAsOwner(deps, ctx.owner, data.secret_id);
    } catch (err) {
      throw new TargetUnavailableError(`the vault did not answer (${Code[codeOf(err) ?? Code.Unknown] ?? 'error'})`, err);
    }
    const problem = rotateProblem(ctx.owner, secret);
    if (problem || !secret) return { status: 'failed', detail: `secret ${data.secret_id}: ${problem}` };
    const scheduledForMs = ctx.scheduledFor.getTime();
    const jobId = `schedule:${ctx.scheduleId}:${scheduledForMs}`;
    await deps.enqueueRotations(
      [
        {
          jobId,
          secretId: secret.id,
          expectedVersion: secret.currentVersion,
          dueAtMs: scheduledForMs,
          ownerId: ctx.owner.id,
          trigger: 'schedule',
          actingFor: { userId: ctx.owner.id, username: ctx.owner.name, roles: [...ctx.owner.roles] },
          scheduleId: ctx.scheduleId,
          scheduleRunId: ctx.runId,
        },
      ],
      ctx.em,
    );
    return { status: 'queued', jobId };
  },
};

const TARGETS: { readonly [K in TargetType]: TargetDefinition<K> } = {
  rotate_secret: rotateSecret,
};

export const TARGET_TYPES = Object.keys(TARGETS) as TargetType[];

// The union's handlers, erased to one signature (each entry is checked against its own type above).
const definitionOf = (type: TargetType) => TARGETS[type] as unknown as TargetDefinition<TargetType>;

/** Proto oneof → target; a missing or unknown case is a 422 naming `target`. */
export function targetFromProto(target: ScheduleTarget | undefined): Target {
  const kind = target?.kind;
  const type = TARGET_TYPES.find((t) => TARGETS[t].protoCase === kind?.case);
  if (!kind?.case || !type) throw new ValidationError('Invalid target', { target: `required: one of ${TARGET_TYPES.join(', ')}` });
  return { type, data: definitionOf(type).fromProto(kind.value) } as Target;
}

export function targetToProto(target: Target): ScheduleTarget {
  return definitionOf(target.type).toProto(target.data);
}

/** A stored (target_type, target jsonb) pair → target. */
export function targetFromStored(type: string, json: unknown): Target {
  if (!(TARGET_TYPES as string[]).includes(type)) throw new TypeError(`unknown stored target type "${type}"`);
  return { type, data: definitionOf(type as TargetType).parseStored(json) } as Target;
}

export function authorizeTarget(deps: TargetDeps, owner: Owner, target: Target): Promise<void> {
  return definitionOf(target.type).authorize(deps, owner, target.data);
}

export function fireTarget(deps: TargetDeps, ctx: FireContext, target: Target): Promise<FireOutcome> {
  return definitionOf(target.type).fire(deps, ctx, target.data);
}
