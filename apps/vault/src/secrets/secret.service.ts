import { randomBytes, randomUUID } from 'node:crypto';
import { hasPermission, requirePermission, requireScoped, subjectOf, type Principal } from '@csda/auth';
import { ConflictError, NotFoundError, VaultDecryptError } from '@csda/errors';
import { DecryptError, aadFor, decryptValue, encryptValue, type Keyring } from '@csda/crypto';
import type { AuditFact } from '@csda/service-kit';
import type { SecretChanges, SecretQueries, SecretRepository, Visibility } from './secret.repository.ts';
import type { RotationStrategy, SecretRecord, VersionRecord } from './secret.types.ts';
import { checkDescription, checkId, checkName, checkPaging, checkRoles, checkRotation, checkTags, checkValue } from './secret.validation.ts';

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
}

export interface CreateSecretInput {
  readonly name: string;
  readonly value: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly sharedWithRoles: readonly string[];
  readonly expiresAt: Date | null;
  readonly rotation: { enabled: boolean; intervalDays: number | null; strategy: string };
}

export interface UpdateSecretInput {
  readonly name?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly sharedWithRoles?: readonly string[];
  readonly expiresAt?: Date | null;
  readonly isActive?: boolean;
  readonly rotation?: { enabled: boolean; intervalDays: number | null; strategy: string };
}

// A service acting for a user sees and changes what that user may, within its scope.
const visibilityOf = (p: Principal): Visibility => ({ userId: subjectOf(p).id, roles: subjectOf(p).roles, all: hasPermission(p, 'secrets:admin') });
const canModify = (p: Principal, s: SecretRecord) => s.ownerId === subjectOf(p).id || hasPermission(p, 'secrets:admin');
const nextRotation = (enabled: boolean, intervalDays: number | null, from: Date) =>
  enabled && intervalDays ? new Date(from.getTime() + intervalDays * DAY_MS) : null;

/**
 * The vault's domain logic: ownership, versions, envelope encryption and
 * audit. No transport and no SQL here. "Not found" and "not yours" are the
 * same answer, so ids cannot be probed.
 */
export function createSecretService(deps: SecretServiceDeps) {
  const fact = (ctx: CallContext, action: string, secretId: string, details: Record<string, string> = {}, outcome: 'success' | 'failure' = 'success'): AuditFact => ({
    action,
    actor: ctx.principal.id,
    actorName: ctx.principal.name,
    outcome,
    resourceType: 'secret',
    resourceId: secretId,
    ip: ctx.ip,
    requestId: ctx.requestId,
    details: ctx.principal.onBehalfOf ? { ...details, on_behalf_of: ctx.principal.onBehalfOf.id } : details,
  });

  const seal = (secretId: string, version: number, plaintext: Buffer) => {
    try {
      return { version, ...encryptValue(deps.keyring(), plaintext, aadFor(secretId, version)) };
    } finally {
      plaintext.fill(0);
    }
  };

  /** Loads a secret the caller may change, or NOT_FOUND (also when it is only shared with them). */
  const modifiable = async (repo: SecretQueries, ctx: CallContext, id: string, lock = false) => {
    const secret = await repo.findVisible(id, visibilityOf(ctx.principal), lock);
    if (!secret || !canModify(ctx.principal, secret)) throw new NotFoundError('secret', id);
    return secret;
  };

  /** Adds a version; `audit` names the record written with it (same transaction). */
  const addVersion = async (ctx: CallContext, id: string, value: Buffer, expectedVersion: number | undefined, rotation: boolean, audit: (version: number) => AuditFact) => {
    return deps.repository().transaction(async (tx) => {
      const secret = await modifiable(tx, ctx, id, true);
      if (expectedVersion !== undefined && expectedVersion !== secret.currentVersion) {
        throw new ConflictError('Secret version has changed', { expected_version: String(expectedVersion), current_version: String(secret.currentVersion) });
      }
      const version = secret.currentVersion + 1;
      await tx.insertVersion(id, seal(id, version, value), ctx.principal.id);
      if (rotation) {
        const now = new Date();
        await tx.update(id, { lastRotatedAt: now, nextRotationAt: nextRotation(secret.rotation.enabled, secret.rotation.intervalDays, now) });
      }
      await tx.audit(audit(version));
      return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
    });
  };

  return {
    async create(ctx: CallContext, input: CreateSecretInput): Promise<SecretRecord> {
      requireScoped(ctx.principal, 'secrets:write');
      const id = randomUUID();
      const name = checkName(input.name);
      const value = checkValue(input.value);
      const rotation = checkRotation(input.rotation.intervalDays, input.rotation.strategy);
      const now = new Date();
      const created = await deps
        .repository()
        .transaction(async (tx) => {
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
            nextRotationAt: nextRotation(input.rotation.enabled, rotation.intervalDays, now),
          });
          await tx.insertVersion(id, seal(id, 1, value), ctx.principal.id);
          await tx.audit(fact(ctx, 'secret_created', id, { name, version: '1' }));
          return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
        });
      return created;
    },

    async list(ctx: CallContext, filter: { tag: string; namePrefix: string; limit: number; offset: number }) {
      requireScoped(ctx.principal, 'secrets:read');
      const paging = checkPaging(filter.limit, filter.offset);
      const page = await deps.repository().list(visibilityOf(ctx.principal), { tag: filter.tag || undefined, namePrefix: filter.namePrefix || undefined, ...paging });
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
            const r = checkRotation(input.rotation.intervalDays, input.rotation.strategy);
            Object.assign(changes, {
              rotationEnabled: input.rotation.enabled,
              rotationIntervalDays: r.intervalDays,
              rotationStrategy: r.strategy,
              nextRotationAt: nextRotation(input.rotation.enabled, r.intervalDays, secret.rotation.lastRotatedAt ?? new Date()),
            });
          }
          await tx.update(id, changes);
          const fields = Object.entries(changes).filter(([, v]) => v !== undefined).map(([k]) => k).sort().join(',');
          await tx.audit(fact(ctx, 'secret_updated', id, { fields }));
          return (await tx.findVisible(id, visibilityOf(ctx.principal)))!;
        });
      return updated;
    },

    async remove(ctx: CallContext, id: string): Promise<void> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      await deps.repository().transaction(async (tx) => {
        await modifiable(tx, ctx, id, true);
        await tx.softDelete(id);
        await tx.audit(fact(ctx, 'secret_deleted', id));
      });
    },

    async reveal(ctx: CallContext, id: string, version: number): Promise<{ value: string; version: number }> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:reveal', id);
      // A scoped grant to reveal one secret implies reading it; everyone else needs both permissions.
      if (ctx.principal.scope === undefined) requirePermission(ctx.principal, 'secrets:read');
      const repo = deps.repository();
      const found = await repo.findSealed(id, visibilityOf(ctx.principal), version);
      if (!found) throw new NotFoundError('secret', version ? `${id} version ${version}` : id);
      const refused = !found.secret.isActive ? 'inactive' : found.secret.expiresAt && found.secret.expiresAt.getTime() <= Date.now() ? 'expired' : undefined;
      if (refused) {
        await repo.audit(fact(ctx, 'secret_reveal_refused', id, { reason: refused }, 'failure'));
        throw new ConflictError(refused === 'inactive' ? 'Secret is inactive' : 'Secret has expired', { resource: 'secret', identifier: id, reason: refused });
      }
      let plaintext: Buffer;
      try {
        plaintext = decryptValue(deps.keyring(), found.sealed, aadFor(id, found.sealed.version));
      } catch (err) {
        if (!(err instanceof DecryptError)) throw err;
        await repo.audit(fact(ctx, 'secret_revealed', id, { version: String(found.sealed.version), reason: 'decrypt_failed' }, 'failure'));
        throw new VaultDecryptError(id);
      }
      // The value leaves only once its reveal is on record (committed to the outbox).
      await repo.audit(fact(ctx, 'secret_revealed', id, { version: String(found.sealed.version) }));
      const value = plaintext.toString('utf8');
      plaintext.fill(0);
      return { value, version: found.sealed.version };
    },

    async putValue(ctx: CallContext, id: string, value: string, expectedVersion: number | undefined): Promise<SecretRecord> {
      id = checkId(id);
      requireScoped(ctx.principal, 'secrets:write', id);
      return addVersion(ctx, id, checkValue(value), expectedVersion, false, (v) => fact(ctx, 'secret_value_updated', id, { version: String(v) }));
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
      const next = value ? checkValue(value) : generateValue(current.rotation.strategy, id);
      const strategy = value ? 'supplied' : current.rotation.strategy;
      return addVersion(ctx, id, next, undefined, true, (v) => fact(ctx, 'secret_rotated', id, { version: String(v), strategy }));
    },
  };
}

function generateValue(strategy: RotationStrategy, id: string): Buffer {
  if (strategy === 'manual') {
    throw new ConflictError('This secret rotates manually: supply the new value', { resource: 'secret', identifier: id, strategy });
  }
  return Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
}

export type SecretService = ReturnType<typeof createSecretService>;
