import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import { ExternalServiceError, ValidationError } from '@csda/errors';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { TargetUnavailableError, UUID, type Owner, type TargetDefinition, type TargetDeps } from './target.types.ts';

export interface RotateSecretData {
  secret_id: string;
}

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

/** rotate_secret: enqueue a rotation job for the owner's own automatic secret. */
export const rotateSecret: TargetDefinition<RotateSecretData, 'rotateSecret'> = {
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
