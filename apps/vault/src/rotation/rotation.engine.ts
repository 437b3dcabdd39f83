import { aadFor, decryptValue, encryptValue, type Keyring } from '@csda/crypto';
import type { Subjects } from '@csda/service-kit';
import { toRecord, type SecretQueries, type SecretRepository, type SecretRow } from '../secrets/secret.repository.ts';
import type { SecretRecord } from '../secrets/secret.types.ts';
import { generateRandomValue } from './random-strategy.ts';
import type { JobInfo, RotationTrigger } from './rotation-events.ts';
import { createRotationMessages } from './rotation-messages.ts';
import { postgresPolicy, randomPolicy, webhookPolicy } from './rotation-policy.ts';

const DAY_MS = 86_400_000;

/**
 * A rotation that did not finish. `message` is safe to store and show (never
 * a value, a password or a URL with credentials); `transient` failures are
 * worth retrying, the others need the owner.
 */
export class RotationFailure extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RotationFailure';
    this.transient = transient;
  }
}

/** What the postgres strategy needs from PostgreSQL (postgres-strategy.ts; injected for tests). */
export interface PostgresOps {
  /** The role and password of a connection URL; throws a RotationFailure (permanent) when the value is no PostgreSQL URL. */
  credentials(url: string): { role: string; password: string };
  withPassword(url: string, password: string): string;
  generatePassword(length: number): string;
  /** ALTER ROLE … PASSWORD over `connectUrl`; a RotationFailure says whether retrying may help. */
  applyPassword(connectUrl: string, role: string, password: string): Promise<void>;
  canLogin(url: string): Promise<boolean>;
}

/** What the webhook strategy needs (webhook-strategy.ts): signed POSTs through the SSRF guard. */
export interface WebhookOps {
  /** POSTs the signed JSON body; resolves on a 2xx, else a RotationFailure. */
  push(target: WebhookTarget, body: Record<string, unknown>): Promise<void>;
  /** POSTs the signed request; the new value from a 2xx `{"value": "…"}` answer. */
  pull(target: WebhookTarget, body: Record<string, unknown>): Promise<string>;
}

export interface WebhookTarget {
  readonly url: string;
  readonly timeoutMs: number;
  readonly signingSecret: string;
  /** webhook-id: the same for every attempt at one version, so receivers can de-duplicate. */
  readonly webhookId: string;
}

export interface RotationEngineDeps {
  readonly repository: () => SecretRepository;
  readonly keyring: () => Keyring;
  readonly subjects: Subjects;
  readonly postgres: PostgresOps;
  readonly webhook: WebhookOps;
}

export interface RotationRequest {
  readonly secretId: string;
  /** Who the audit trail names. */
  readonly actor: { readonly id: string; readonly name: string };
  readonly requestId?: string;
  readonly ip?: string;
  /** Only a secret this user owns is rotated (a user schedule's acting_for). */
  readonly requireOwner?: string;
  readonly onBehalfOf?: string;
  /** The version the caller means to replace (jobs); another one makes the request a no-op. */
  readonly expectedVersion?: number;
  /** The new value (manual strategy only). */
  readonly suppliedValue?: Buffer;
  readonly trigger: RotationTrigger;
  readonly job?: JobInfo;
}

export type RotationOutcome = { readonly kind: 'rotated'; readonly version: number; readonly secret: SecretRecord } | { readonly kind: 'skipped'; readonly reason: string };

type Phase1 =
  | { kind: 'done'; outcome: RotationOutcome }
  | { kind: 'apply'; secret: SecretRecord; version: number }
  | { kind: 'pull'; secret: SecretRecord };

const nextRotation = (s: SecretRecord, from: Date) => (s.rotation.enabled && s.rotation.intervalDays ? new Date(from.getTime() + s.rotation.intervalDays * DAY_MS) : null);
// Versions above the current one exist only as the pending version (a put clears an abandoned one by going past it).
const nextVersionOf = (s: SecretRecord) => Math.max(s.currentVersion, s.rotation.pendingVersion ?? 0) + 1;
const errorText = (err: unknown) => (err instanceof RotationFailure ? err.message : 'internal error during rotation');

/**
 * The one rotation path, for on-demand RotateSecret and for queued jobs.
 * random / manual: one transaction. postgres / webhook push: two-phase
 * (create → set → test → finish): the new value is committed as a pending
 * version first, applied outside any transaction, tested, then promoted;
 * a retry resumes from the stored pending version, so the credential in
 * use is never lost before its successor is proven. webhook pull: the new
 * value comes from the endpoint and is stored and promoted at once.
 */
export function createRotationEngine(deps: RotationEngineDeps) {
  const open = (secretId: string, version: number, sealed: Parameters<typeof decryptValue>[1]) => decryptValue(deps.keyring(), sealed, aadFor(secretId, version));
  const seal = (secretId: string, version: number, plaintext: Buffer) => {
    try {
      return { version, ...encryptValue(deps.keyring(), plaintext, aadFor(secretId, version)) };
    } finally {
      plaintext.fill(0);
    }
  };
  const { fact, jobEvent, rotated: rotatedMessages } = createRotationMessages(deps.subjects);

  /** Reads a plaintext (another secret of the owner's, or a version of this one); the caller zeroes it. */
  const currentValueOf = async (tx: SecretQueries, secretId: string, ownerId: string, label: string): Promise<Buffer> => {
    const found = await tx.ownedCurrent(secretId, ownerId);
    if (!found) throw new RotationFailure(`${label} ${secretId} is not a secret of the same owner`, false);
    if (!found.active) throw new RotationFailure(`${label} ${secretId} is inactive or expired`, false);
    return open(secretId, found.sealed.version, found.sealed);
  };
  const versionValue = async (tx: SecretQueries, secretId: string, version: number): Promise<Buffer> => {
    const sealed = await tx.sealedVersion(secretId, version);
    if (!sealed) throw new RotationFailure(`version ${version} is missing`, false);
    return open(secretId, version, sealed);
  };


  /** Promotes `version` (already stored unless `value` is given); its outbox messages commit with it (one insert). */
  const finish = async (tx: SecretQueries, req: RotationRequest, secret: SecretRecord, version: number, stored: boolean, value?: Buffer) => {
    const now = new Date();
    if (!stored) await tx.insertVersion(secret.id, seal(secret.id, version, value!), req.actor.id, now, 'stored');
    const row = await tx.promote(secret.id, version, now, nextRotation(secret, now));
    await tx.emit(rotatedMessages(req, secret, version, now));
    return { kind: 'rotated' as const, version, secret: toRecord(row) };
  };

  /** The checks every path makes first: a live, active secret of the right owner, at the version the job expects. */
  const check = (row: (SecretRow & { deleted: boolean }) | undefined, req: RotationRequest): { kind: 'skip'; ownerId: string; reason: string } | { kind: 'go'; secret: SecretRecord } => {
    if (!row || row.deleted) return { kind: 'skip', ownerId: row?.owner_id ?? '', reason: 'secret does not exist or is deleted' };
    const secret = toRecord(row);
    if (req.requireOwner !== undefined && secret.ownerId !== req.requireOwner) throw new RotationFailure('the schedule owner does not own this secret', false);
    if (!secret.isActive) return { kind: 'skip', ownerId: secret.ownerId, reason: 'secret is inactive' };
    const { currentVersion, rotation } = secret;
    if (req.expectedVersion !== undefined && req.expectedVersion !== currentVersion && rotation.pendingVersion !== req.expectedVersion + 1) {
      return { kind: 'skip', ownerId: secret.ownerId, reason: `secret is at version ${currentVersion}, the job expected ${req.expectedVersion}` };
    }
    return { kind: 'go', secret };
  };

  /**
   * random, and no-ops: without an explicit transaction. A read, then one
   * statement that writes the version, promotes it and fills the outbox only
   * if the row is unchanged (else read again; after three tries, the
   * locking path). Undefined: not for this path.
   */
  const singleStatement = async (req: RotationRequest): Promise<RotationOutcome | undefined> => {
    if (req.suppliedValue) return undefined;
    const repo = deps.repository();
    for (let tries = 0; tries < 3; tries++) {
      const read = await repo.readForRotation(req.secretId);
      const checked = check(read, req);
      if (checked.kind === 'skip') {
        await repo.emit(jobEvent(req, checked.ownerId, { status: 'succeeded', detail: `skipped: ${checked.reason}` }));
        repo.kick();
        return { kind: 'skipped', reason: checked.reason };
      }
      const { secret } = checked;
      if (secret.rotation.strategy !== 'random') return undefined;
      const version = nextVersionOf(secret);
      const at = new Date();
      const sealed = seal(secret.id, version, Buffer.from(generateRandomValue(randomPolicy(secret.rotation.policy)), 'utf8'));
      const row = await repo.commitRotation({ read: read!, sealed, createdBy: req.actor.id, at, messages: rotatedMessages(req, secret, version, at) });
      if (row) {
        repo.kick();
        return { kind: 'rotated', version, secret: toRecord(row) };
      }
    }
    return undefined;
  };

  const skip = async (tx: SecretQueries, req: RotationRequest, ownerId: string, reason: string): Promise<{ kind: 'done'; outcome: RotationOutcome }> => {
    await tx.emit(jobEvent(req, ownerId, { status: 'succeeded', detail: `skipped: ${reason}` }));
    return { kind: 'done', outcome: { kind: 'skipped', reason } };
  };

  /** Phase 1, under the row lock: checks, then either the whole rotation (random, manual) or the pending version. */
  const begin = (req: RotationRequest) =>
    deps.repository().transaction(async (tx): Promise<Phase1> => {
      const checked = check(await tx.lockForRotation(req.secretId), req);
      if (checked.kind === 'skip') return skip(tx, req, checked.ownerId, checked.reason);
      const { secret } = checked;
      const { currentVersion, rotation } = secret;
      const strategy = req.suppliedValue ? 'manual' : rotation.strategy;
      if (strategy === 'manual') {
        if (!req.suppliedValue) throw new RotationFailure('manual rotation: the owner must put the new value', false);
        return { kind: 'done', outcome: await finish(tx, req, secret, nextVersionOf(secret), false, req.suppliedValue) };
      }
      if (strategy === 'random') {
        const value = Buffer.from(generateRandomValue(randomPolicy(rotation.policy)), 'utf8');
        return { kind: 'done', outcome: await finish(tx, req, secret, nextVersionOf(secret), false, value) };
      }
      await tx.emit(jobEvent(req, secret.ownerId, { status: 'running' }));
      if (strategy === 'webhook' && webhookPolicy(rotation.policy).mode === 'pull') return { kind: 'pull', secret };
      if (rotation.pendingVersion !== null) return { kind: 'apply', secret, version: rotation.pendingVersion };
      // Create: the new value is stored (sealed) before anything outside changes.
      const version = nextVersionOf(secret);
      let value: Buffer;
      if (strategy === 'postgres') {
        const current = await versionValue(tx, secret.id, currentVersion);
        try {
          const url = current.toString('utf8');
          deps.postgres.credentials(url);
          value = Buffer.from(deps.postgres.withPassword(url, deps.postgres.generatePassword(postgresPolicy(rotation.policy).password_length)), 'utf8');
        } finally {
          current.fill(0);
        }
      } else {
        // The webhook receiver gets 256 bits of base64url.
        value = Buffer.from(generateRandomValue({ length: 43, charset: 'base64url', prefix: '' }), 'utf8');
      }
      await tx.insertVersion(secret.id, seal(secret.id, version, value), req.actor.id, new Date(), 'pending');
      // Its rotation status is pending now (and pending_version shown).
      await tx.changed([{ id: secret.id, ownerId: secret.ownerId, change: 'updated' }]);
      return { kind: 'apply', secret: { ...secret, rotation: { ...rotation, state: 'pending', pendingVersion: version } }, version };
    });

  /** Set and test, outside any transaction. */
  const apply = async (secret: SecretRecord, version: number): Promise<void> => {
    const repo = deps.repository();
    const pending = await versionValue(repo, secret.id, version);
    try {
      if (secret.rotation.strategy === 'postgres') {
        const pendingUrl = pending.toString('utf8');
        // Resume: a pending password that already logs in was applied before a crash.
        if (await deps.postgres.canLogin(pendingUrl)) return;
        const policy = postgresPolicy(secret.rotation.policy);
        const via = policy.rotator_secret_id
          ? await currentValueOf(repo, policy.rotator_secret_id, secret.ownerId, 'rotator secret')
          : await versionValue(repo, secret.id, secret.currentVersion);
        try {
          const { role, password } = deps.postgres.credentials(pendingUrl);
          await deps.postgres.applyPassword(via.toString('utf8'), role, password);
        } finally {
          via.fill(0);
        }
        if (!(await deps.postgres.canLogin(pendingUrl))) throw new RotationFailure('the new password was set but does not log in yet', true);
        return;
      }
      const target = await webhookTarget(repo, secret, version);
      await deps.webhook.push(target, { type: 'secret.rotation', secret_id: secret.id, name: secret.name, version, value: pending.toString('utf8') });
    } finally {
      pending.fill(0);
    }
  };

  const webhookTarget = async (repo: SecretQueries, secret: SecretRecord, version: number): Promise<WebhookTarget> => {
    const policy = webhookPolicy(secret.rotation.policy);
    const signing = await currentValueOf(repo, policy.signing_secret_id, secret.ownerId, 'signing secret');
    const signingSecret = signing.toString('utf8');
    signing.fill(0);
    return { url: policy.url, timeoutMs: policy.timeout_ms, signingSecret, webhookId: `rotate:${secret.id}:${version}` };
  };

  /** Finish: promote the pending version if it is still the one this rotation applied. */
  const promote = (req: RotationRequest, version: number) =>
    deps.repository().transaction(async (tx): Promise<RotationOutcome> => {
      const row = await tx.lockForRotation(req.secretId);
      if (!row || row.deleted) return (await skip(tx, req, row?.owner_id ?? '', 'secret was deleted during rotation')).outcome;
      const secret = toRecord(row);
      if (secret.currentVersion >= version) return (await skip(tx, req, secret.ownerId, `version ${version} is already current`)).outcome;
      if (secret.rotation.pendingVersion !== version) throw new RotationFailure(`pending version changed during rotation (now ${secret.rotation.pendingVersion ?? 'none'})`, true);
      return finish(tx, req, secret, version, true);
    });

  const pull = async (req: RotationRequest, secret: SecretRecord): Promise<RotationOutcome> => {
    const version = await deps.repository().nextVersion(secret.id);
    const target = await webhookTarget(deps.repository(), secret, version);
    const value = await deps.webhook.pull(target, { type: 'secret.rotation.request', secret_id: secret.id, name: secret.name, version });
    return deps.repository().transaction(async (tx) => {
      const row = await tx.lockForRotation(req.secretId);
      if (!row || row.deleted || !row.is_active) return (await skip(tx, req, row?.owner_id ?? '', 'secret was deleted or deactivated during rotation')).outcome;
      const now = toRecord(row);
      if (now.currentVersion !== secret.currentVersion) return (await skip(tx, req, now.ownerId, `secret moved to version ${now.currentVersion} during rotation`)).outcome;
      return finish(tx, req, now, await tx.nextVersion(now.id), false, Buffer.from(value, 'utf8'));
    });
  };

  return {
    /** Rotates (or resumes a rotation) through the secret's strategy. Throws RotationFailure when it could not finish. */
    async rotate(req: RotationRequest): Promise<RotationOutcome> {
      try {
        const direct = await singleStatement(req);
        if (direct) return direct;
        const first = await begin(req);
        if (first.kind === 'done') return first.outcome;
        if (first.kind === 'pull') return await pull(req, first.secret);
        await apply(first.secret, first.version);
        return await promote(req, first.version);
      } catch (err) {
        if (err instanceof RotationFailure) throw err;
        const decrypt = err instanceof Error && err.name === 'DecryptError';
        throw new RotationFailure(decrypt ? 'a stored value could not be decrypted' : 'internal error during rotation', !decrypt, { cause: err });
      }
    },

    /**
     * Records a failed attempt: the error on the secret, an audit record and
     * the job's result. `retrying` leaves the state alone (the job comes back);
     * `failed` / `dead` (and on-demand failures, `undefined` job status) mark the secret failed.
     */
    async recordFailure(req: RotationRequest, err: unknown, status: 'retrying' | 'failed' | 'dead' | undefined, nextAttemptAt?: Date): Promise<void> {
      const message = errorText(err);
      await deps.repository().transaction(async (tx) => {
        const row = await tx.lockForRotation(req.secretId);
        if (!row) return;
        await tx.recordRotationError(req.secretId, message, status === 'retrying' ? undefined : 'failed');
        // The error (and, unless retrying, the failed status) is in the secret's metadata.
        await tx.changed([{ id: req.secretId, ownerId: row.owner_id, change: 'updated' }]);
        await tx.audit(fact(req, 'secret_rotation_failed', { error: message, ...(status ? { status } : {}) }, 'failure'));
        if (status) await tx.emit(jobEvent(req, row.owner_id, { status, error: message, ...(nextAttemptAt ? { nextAttemptAt } : {}) }));
      });
    },
  };
}

export type RotationEngine = ReturnType<typeof createRotationEngine>;
