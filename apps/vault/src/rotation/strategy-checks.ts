import { ValidationError } from '@csda/errors';
import { aadFor, decryptValue, type Keyring } from '@csda/crypto';
import { isWebhookSecret } from '@csda/net';
import type { SecretQueries } from '../secrets/secret.repository.ts';
import type { RotationPolicy, RotationStrategy } from '../secrets/secret.types.ts';
import type { PostgresOps } from './rotation.engine.ts';
import { postgresPolicy, webhookPolicy } from './rotation-policy.ts';


export interface StrategyCheckDeps {
  readonly keyring: () => Keyring;
  readonly postgres: Pick<PostgresOps, 'credentials'>;
}

const isPostgresUrl = (deps: StrategyCheckDeps, value: string) => {
  try {
    deps.postgres.credentials(value);
    return true;
  } catch {
    return false;
  }
};

/** The value a strategy needs: a postgres secret holds a PostgreSQL connection URL. */
export function checkStrategyValue(deps: StrategyCheckDeps, strategy: RotationStrategy, value: Buffer): void {
  if (strategy === 'postgres' && !isPostgresUrl(deps, value.toString('utf8'))) {
    throw new ValidationError('A postgres-rotated secret holds a PostgreSQL URL', { value: 'postgres://user:password@host:port/database' });
  }
}

/**
 * The secrets a policy refers to belong to the same owner and hold what
 * the strategy needs (a whsec_ signing secret, a PostgreSQL URL for the
 * rotator). Their values are read here and dropped, never returned.
 */
export async function checkReferences(deps: StrategyCheckDeps, repo: Pick<SecretQueries, 'ownedCurrent'>, ownerId: string, strategy: RotationStrategy, policy: RotationPolicy): Promise<void> {
  const refs: { key: string; id: string; ok: (v: string) => boolean; want: string }[] = [];
  if (strategy === 'webhook') refs.push({ key: 'signing_secret_id', id: webhookPolicy(policy).signing_secret_id, ok: isWebhookSecret, want: 'a secret of yours holding a whsec_ webhook signing secret' });
  const rotator = strategy === 'postgres' ? postgresPolicy(policy).rotator_secret_id : undefined;
  if (rotator) refs.push({ key: 'rotator_secret_id', id: rotator, ok: (v) => isPostgresUrl(deps, v), want: 'a secret of yours holding a PostgreSQL URL' });
  const problems: Record<string, string> = {};
  for (const ref of refs) {
    const found = await repo.ownedCurrent(ref.id, ownerId);
    let good = false;
    if (found) {
      try {
        const plain = decryptValue(deps.keyring(), found.sealed, aadFor(ref.id, found.sealed.version));
        good = ref.ok(plain.toString('utf8'));
        plain.fill(0);
      } catch {
        good = false;
      }
    }
    if (!good) problems[`rotation.policy.${ref.key}`] = ref.want;
  }
  if (Object.keys(problems).length > 0) throw new ValidationError('Invalid rotation policy', problems);
}
