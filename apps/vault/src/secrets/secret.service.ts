import { randomUUID } from 'node:crypto';
import { hasPermission, requirePermission, requireScoped, subjectOf, type Principal } from '@csda/auth';
import { ConflictError, ExternalServiceError, NotFoundError, ValidationError, VaultDecryptError } from '@csda/errors';
import { DecryptError, aadFor, decryptValue, encryptValue, type Keyring } from '@csda/crypto';
import type { SecretChanges, SecretQueries, SecretRepository, Visibility } from './secret.repository.ts';
import { RotationFailure, type PostgresOps, type RotationEngine } from '../rotation/rotation.engine.ts';
import { checkReferences, checkStrategyValue } from '../rotation/strategy-checks.ts';
import { checkToolUse, requireGrant, toolUseDetails } from '../grants/tool-use.ts';
import { secretFact as fact } from './secret.audit.ts';
import type { SealedVersion, SecretRecord, VersionRecord } from './secret.types.ts';
import { checkDescription, checkId, checkName, checkPaging, checkRoles, checkRotation, checkRotationStatus, checkTags, checkValue } from './secret.validation.ts';

const DAY_MS = 86_400_000;

/** Who is calling, as the gateway's signed internal token says, plus request correlation. */
export interface CallContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly ip: string;
}

export interface SecretServiceDeps {
  /** A repository on a fresh EntityManager fork (one per call). */
  readonly repository: () => SecretRepository;
  readonly keyring: () => Keyring;
  readonly rotation: Pick<RotationEngine, 'rotate' | 'recordFailure'>;
  /** Checks that a postgres secret's value is a PostgreSQL URL. */
  readonly postgres: Pick<PostgresOps, 'credentials'>;
}

/** Rotation settings as the API gives them (policy: the Struct's JSON). */
export interface RotationInput {
  readonly enabled: boolean;
  readonly intervalDays: number | null;
  readonly strategy: string;
  readonly policy?: Readonly<Record<string, unknown>>;
}

export interface CreateSecretInput {
  readonly name: string;
  readonly value: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly sharedWithRoles: readonly string[];
  readonly expiresAt: Date | null;
  readonly rotation: RotationInput;
}

export interface UpdateSecretInput {
  readonly name?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly sharedWithRoles?: readonly string[];
  readonly expiresAt?: Date | null;
  readonly isActive?: boolean;
  readonly rotation?: RotationInput;
}

// A service acting for a user sees and changes what that user may, within its scope.
export const visibilityOf = (p: Principal): Visibility => ({ userId: subjectOf(p).id, roles: subjectOf(p).roles, all: hasPermission(p, 'secrets:admin') });
export const canModify = (p: Principal, s: SecretRecord) => s.ownerId === subjectOf(p).id || hasPermission(p, 'secrets:admin');
const nextRotation = (enabled: boolean, intervalDays: number | null, from: Date) =>
  enabled && intervalDays ? new Date(from.getTime() + intervalDays * DAY_MS) : null;

/**
 * The vault's domain logic: ownership, versions, envelope encryption and
 * audit. No transport and no SQL here. "Not found" and "not yours" are the
 * same answer, so ids cannot be probed.
 */
export function createSecretService(deps: SecretServiceDeps) {
  const seal = (secretId: string, version: number, plaintext: Buffer) => {
    try {
      return { version, ...encryptValue(deps.keyring(), plaintext, aadFor(secretId, version)) };
    } finally {
      plaintext.fill(0);
    }
  };

  const openValue = (secretId: string, sealed: SealedVersion) => decryptValue(deps.keyring(), sealed, aadFor(secretId, sealed.version));

  /** Loads a secret the caller may change, or NOT_FOUND (also when it is only shared with them). */
  const modifiable = async (repo: SecretQueries, ctx: CallContext, id: string, lock = false) => {
    const secret = await repo.findVisible(id, visibilityOf(ctx.principal), lock);
    if (!secret || !canModify(ctx.principal, secret)) throw new NotFoundError('secret', id);
    return secret;
  };

  /**
   * Puts a new value. On a manual secret that is its rotation (rotated now,
   * next due one interval later). Refused while a two-phase rotation is
   * pending: the new credential may already be in use.
   */
  const addVersion = async (ctx: CallContext, id: string, value: Buffer, expectedVersion: number | undefined) => {
    try {
      return await deps.repository().transaction(async (tx) => {
        const secret = await modifiable(tx, ctx, id, true);
        if (expectedVersion !== undefined && expectedVersion !== secret.currentVersion) {
          throw new ConflictError('Secret version has changed', { expected_version: String(expectedVersion), current_version: String(secret.currentVersion) });
        }
        if (secret.rotation.state === 'pending') {
          throw new ConflictError('A rotation of this secret is in progress', { pending_version: String(secret.rotation.pendingVersion ?? '') });
        }
        checkStrategyValue(deps, secret.rotation.strategy, value);
        const version = await tx.nextVersion(id);
        await tx.insertVersion(id, seal(id, version, value), ctx.principal.id);
        const manual = secret.rotation.strategy === 'manual';
        if (manual) {
          const now = new Date();
          await tx.promote(id, version, now, nextRotation(secret.rotation.enabled, secret.rotation.intervalDays, now));
        } else if (secret.rotation.pendingVersion !== null) {
          // A new value supersedes an abandoned (failed) rotation's pending version.
          await tx.update(id, { pendingVersion: null });
        }
        // On a manual secret the put is its rotation: said so in the record.
        await tx.audit(fact(ctx, 'secret_value_updated', id, { version: String(version), ...(manual ? { rotation: 'manual' } : {}) }));
        // A new current version, whatever the strategy.
        await tx.changed([{ id, ownerId: secret.ownerId, change: 'rotated' }]);
        return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
      });
    } finally {
      value.fill(0);
    }
  };

  /** Strategy, policy and the secrets the policy refers to, for the owner. */
  const checkRotationInput = async (repo: SecretQueries, ownerId: string, input: RotationInput) => {
    const r = checkRotation(input.intervalDays, input.strategy, input.policy);
    await checkReferences(deps, repo, ownerId, r.strategy, r.policy);
    return r;
  };

  return {
    async create(ctx: CallContext, input: CreateSecretInput): Promise<SecretRecord> {
      requireScoped(ctx.principal, 'secrets:write');
      const id = randomUUID();
      const name = checkName(input.name);
      const value = checkValue(input.value);
      const rotation = checkRotation(input.rotation.intervalDays, input.rotation.strategy, input.rotation.policy);
      checkStrategyValue(deps, rotation.strategy, value);
      const now = new Date();
      const created = await deps
        .repository()
        .transaction(async (tx) => {
          await checkReferences(deps, tx, ctx.principal.id, rotation.strategy, rotation.policy);
          await tx.insertSecret({
            id,
            ownerId: ctx.principal.id,
            name,
            description: checkDescription(input.description),
            tags: checkTags(input.tags),
            sharedWithRoles: checkRoles(input.sharedWithRoles),
            expiresAt: input.expiresAt,
            rotationEnabled: input.rotation.enabled,
            rotationIntervalDays: rotation.intervalDays,
            rotationStrategy: rotation.strategy,
            rotationPolicy: rotation.policy,
            nextRotationAt: nextRotation(input.rotation.enabled, rotation.intervalDays, now),
          });
          await tx.insertVersion(id, seal(id, 1, value), ctx.principal.id);
          await tx.audit(fact(ctx, 'secret_created', id, { name, version: '1' }));
          await tx.changed([{ id, ownerId: ctx.principal.id, change: 'created' }]);
          return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
        });
      return created;
    },

    async list(ctx: CallContext, filter: { tag: string; namePrefix: string; rotationStatus?: string; limit: number; offset: number }) {
      requireScoped(ctx.principal, 'secrets:read');
      const paging = checkPaging(filter.limit, filter.offset);
      const rotationStatus = checkRotationStatus(filter.rotationStatus ?? '');
      const page = await deps.repository().list(visibilityOf(ctx.principal), { tag: filter.tag || undefined, namePrefix: filter.namePrefix || undefined, rotationStatus, ...paging });
      return { ...page, ...paging };
    },

    async get(ctx: CallContext, id: string): Promise<SecretRecord> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:read', id);
      const secret = await deps.repository().findVisible(id, visibilityOf(ctx.principal));
      if (!secret) throw new NotFoundError('secret', id);
      return secret;
    },

    async update(ctx: CallContext, id: string, input: UpdateSecretInput): Promise<SecretRecord> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      const changes: SecretChanges = {
        name: input.name === undefined ? undefined : checkName(input.name),
        description: input.description === undefined ? undefined : checkDescription(input.description),
        tags: input.tags === undefined ? undefined : checkTags(input.tags),
        sharedWithRoles: input.sharedWithRoles === undefined ? undefined : checkRoles(input.sharedWithRoles),
        expiresAt: input.expiresAt,
        isActive: input.isActive,
      };
      const updated = await deps
        .repository()
        .transaction(async (tx) => {
          const secret = await modifiable(tx, ctx, id, true);
          if (input.rotation) {
            if (secret.rotation.state === 'pending' && input.rotation.strategy !== secret.rotation.strategy) {
              throw new ConflictError('A rotation of this secret is in progress', { pending_version: String(secret.rotation.pendingVersion ?? '') });
            }
            const r = await checkRotationInput(tx, secret.ownerId, input.rotation);
            if (r.strategy !== secret.rotation.strategy) {
              const current = await tx.findSealed(id, visibilityOf(ctx.principal), 0);
              if (current) {
                const plain = openValue(id, current.sealed);
                try {
                  checkStrategyValue(deps, r.strategy, plain);
                } finally {
                  plain.fill(0);
                }
              }
            }
            Object.assign(changes, {
              rotationEnabled: input.rotation.enabled,
              rotationIntervalDays: r.intervalDays,
              rotationStrategy: r.strategy,
              rotationPolicy: r.policy,
              nextRotationAt: nextRotation(input.rotation.enabled, r.intervalDays, secret.rotation.lastRotatedAt ?? new Date()),
              // New settings are the owner's answer to a failure: the due scan takes the secret again.
              ...(secret.rotation.state === 'failed' ? { rotationState: 'ok', rotationLastError: null } : {}),
            });
          }
          await tx.update(id, changes);
          const fields = Object.entries(changes).filter(([, v]) => v !== undefined).map(([k]) => k).sort().join(',');
          await tx.audit(fact(ctx, 'secret_updated', id, { fields }));
          // An update naming no field writes nothing.
          if (fields) await tx.changed([{ id, ownerId: secret.ownerId, change: 'updated' }]);
          return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
        });
      return updated;
    },

    async remove(ctx: CallContext, id: string): Promise<void> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      await deps.repository().transaction(async (tx) => {
        const secret = await modifiable(tx, ctx, id, true);
        const revoked = await tx.softDelete(id, ctx.principal.onBehalfOf?.id ?? ctx.principal.id);
        await tx.audit(fact(ctx, 'secret_deleted', id));
        // Its grants go with it: `deleted` says all of it.
        await tx.changed([{ id, ownerId: secret.ownerId, change: 'deleted' }]);
        for (const g of revoked) {
          await tx.audit(fact(ctx, 'secret_grant_revoked', id, { tool_id: g.toolId, tool_name: g.toolName, as: g.as, reason: 'secret_deleted', granted_by: g.grantedBy }));
        }
      });
    },

    /** `toolId`/`executionId`: the tool-runner's reveal for an execution (checked against the tool's grant). */
    async reveal(ctx: CallContext, id: string, version: number, toolId = '', executionId = ''): Promise<{ value: string; version: number }> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:reveal', id);
      // A scoped grant to reveal one secret implies reading it; everyone else needs both permissions.
      if (ctx.principal.scope === undefined) requirePermission(ctx.principal, 'secrets:read');
      const use = checkToolUse(ctx.principal, toolId, executionId);
      const tool = toolUseDetails(use);
      const repo = deps.repository();
      const found = await repo.findSealed(id, visibilityOf(ctx.principal), version);
      if (!found) throw new NotFoundError('secret', version ? `${id} version ${version}` : id);
      const refused = !found.secret.isActive ? 'inactive' : found.secret.expiresAt && found.secret.expiresAt.getTime() <= Date.now() ? 'expired' : undefined;
      if (refused) {
        await repo.audit(fact(ctx, 'secret_reveal_refused', id, { reason: refused, ...tool }, 'failure'));
        throw new ConflictError(refused === 'inactive' ? 'Secret is inactive' : 'Secret has expired', { resource: 'secret', identifier: id, reason: refused });
      }
      if (use) await requireGrant(repo, ctx, id, use);
      let plaintext: Buffer;
      try {
        plaintext = decryptValue(deps.keyring(), found.sealed, aadFor(id, found.sealed.version));
      } catch (err) {
        if (!(err instanceof DecryptError)) throw err;
        await repo.audit(fact(ctx, 'secret_revealed', id, { version: String(found.sealed.version), reason: 'decrypt_failed', ...tool }, 'failure'));
        throw new VaultDecryptError(id);
      }
      // The value leaves only once its reveal is on record (committed to the outbox).
      await repo.audit(fact(ctx, 'secret_revealed', id, { version: String(found.sealed.version), ...tool }));
      const value = plaintext.toString('utf8');
      plaintext.fill(0);
      return { value, version: found.sealed.version };
    },

    async putValue(ctx: CallContext, id: string, value: string, expectedVersion: number | undefined): Promise<SecretRecord> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      return addVersion(ctx, id, checkValue(value), expectedVersion);
    },

    async versions(ctx: CallContext, id: string): Promise<{ secret: SecretRecord; versions: VersionRecord[] }> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:read', id);
      const repo = deps.repository();
      const secret = await repo.findVisible(id, visibilityOf(ctx.principal));
      if (!secret) throw new NotFoundError('secret', id);
      return { secret, versions: await repo.listVersions(id) };
    },

    async rotate(ctx: CallContext, id: string, value: string): Promise<SecretRecord> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      const current = await deps.repository().findVisible(id, visibilityOf(ctx.principal));
      if (!current || !canModify(ctx.principal, current)) throw new NotFoundError('secret', id);
      if (current.rotation.strategy === 'manual' && !value) {
        throw new ValidationError('This secret rotates manually: supply the new value', { value: 'required for strategy manual' });
      }
      if (current.rotation.strategy !== 'manual' && value) {
        throw new ValidationError('Only a manual secret takes a value to rotate to', { value: `must be empty for strategy ${current.rotation.strategy}` });
      }
      const request = {
        secretId: id,
        actor: { id: ctx.principal.id, name: ctx.principal.name },
        requestId: ctx.requestId,
        ip: ctx.ip,
        trigger: 'on_demand' as const,
        ...(ctx.principal.onBehalfOf ? { onBehalfOf: ctx.principal.onBehalfOf.id } : {}),
        ...(value ? { suppliedValue: checkValue(value) } : {}),
      };
      let outcome;
      try {
        outcome = await deps.rotation.rotate(request);
      } catch (err) {
        if (!(err instanceof RotationFailure)) throw err;
        await deps.rotation.recordFailure(request, err, undefined);
        if (err.transient) throw new ExternalServiceError(current.rotation.strategy === 'webhook' ? 'rotation webhook' : 'rotation target', err);
        throw new ConflictError(`Rotation failed: ${err.message}`, { resource: 'secret', identifier: id, reason: err.message });
      } finally {
        request.suppliedValue?.fill(0);
      }
      if (outcome.kind === 'skipped') throw new ConflictError(`Secret was not rotated: ${outcome.reason}`, { resource: 'secret', identifier: id });
      return (await deps.repository().findVisible(id, visibilityOf(ctx.principal)))!;
    },
  };
}

export type SecretService = ReturnType<typeof createSecretService>;
