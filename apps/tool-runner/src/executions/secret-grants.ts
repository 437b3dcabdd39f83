import type { CallOptions, Client } from '@connectrpc/connect';
import { ConnectError, Code } from '@connectrpc/connect';
import type { OnBehalfOf, Permission } from '@csda/auth';
import { ExternalServiceError, ValidationError } from '@csda/errors';
import type { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { RevealedSecrets } from '../executors/executor.types.ts';
import type { ToolOwner } from '../tools/tool.service.ts';
import type { SecretGrant } from '../tools/tool.types.ts';

export interface VaultDeps {
  readonly vault: Pick<Client<typeof VaultService>, 'revealSecret' | 'getSecret' | 'replaceToolGrants' | 'revokeToolGrants'>;
  /** Call options for the tool-runner acting for `user` with exactly `grants` (audience vault). */
  readonly asUser: (user: OnBehalfOf, grants: readonly (readonly [Permission, string])[]) => Promise<CallOptions>;
}

/** A granted secret could not be revealed: the execution fails with this message (never a value). */
export class SecretUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}

const describe = (err: unknown) =>
  err instanceof ConnectError
    ? err.code === Code.NotFound
      ? 'it does not exist or the tool owner may not see it'
      : err.code === Code.AlreadyExists || err.code === Code.FailedPrecondition || err.code === Code.PermissionDenied
        ? err.rawMessage.slice(0, 200)
        : err.code === Code.Unavailable || err.code === Code.DeadlineExceeded
          ? 'the vault is unavailable'
          : `the vault refused (${Code[err.code]})`
    : 'the vault call failed';

/** A grant change the vault did not make: unavailable is 503, a refusal names `secrets` (the tool is not saved). */
function grantChangeError(err: unknown): Error {
  if (err instanceof ConnectError && err.code !== Code.Unavailable && err.code !== Code.DeadlineExceeded && err.code !== Code.Internal) {
    return new ValidationError('Invalid tool: secrets', { secrets: `the vault refused the grants: ${describe(err)}` });
  }
  return new ExternalServiceError('vault', err);
}

/** The tool and execution a reveal is for: the vault checks the tool's grant and audits both ids. */
export interface RevealFor {
  readonly toolId: string;
  readonly executionId: string;
}

/**
 * Secret grants through the vault: at save time the owner must see each
 * secret (GetSecret acting for them, scoped to that secret) and the vault
 * records the tool's grants (ReplaceToolGrants, scoped to the tool and the
 * secrets the caller may reveal); deleting the tool revokes them. At
 * execution the tool-runner reveals exactly the granted secrets acting for
 * the tool's owner, each call scoped to `secrets:reveal:<id>` and naming the
 * tool and execution, so the vault refuses a revoked grant and audits each reveal.
 */
export function createSecretGrants(deps: VaultDeps) {
  return {
    async check(owner: ToolOwner, grants: readonly SecretGrant[]): Promise<void> {
      const bad: Record<string, string> = {};
      await Promise.all(
        grants.map(async (g, i) => {
          try {
            await deps.vault.getSecret({ id: g.secretId }, await deps.asUser(owner, [['secrets:read', g.secretId]]));
          } catch (err) {
            bad[`secrets[${i}].secret_id`] = `secret ${g.secretId} cannot be granted: ${describe(err)}`;
          }
        }),
      );
      if (Object.keys(bad).length > 0) throw new ValidationError(`Invalid tool: ${Object.keys(bad).join(', ')}`, bad);
    },

    /**
     * Makes `grants` the tool's grants in the vault (removed ones revoked).
     * `revealable`: the secrets the caller may reveal, which a new grant needs.
     */
    async record(owner: ToolOwner, tool: { readonly id: string; readonly name: string }, grants: readonly SecretGrant[], revealable: readonly string[]): Promise<void> {
      const scope: [Permission, string][] = [['tools:write', tool.id], ...[...new Set(revealable)].map((id): [Permission, string] => ['secrets:reveal', id])];
      try {
        await deps.vault.replaceToolGrants({ toolId: tool.id, toolName: tool.name, grants: grants.map((g) => ({ secretId: g.secretId, as: g.as })) }, await deps.asUser(owner, scope));
      } catch (err) {
        throw grantChangeError(err);
      }
    },

    /** Revokes every grant of a deleted tool. */
    async revokeAll(owner: ToolOwner, toolId: string): Promise<void> {
      try {
        await deps.vault.revokeToolGrants({ toolId }, await deps.asUser(owner, [['tools:write', toolId]]));
      } catch (err) {
        throw grantChangeError(err);
      }
    },

    async reveal(owner: ToolOwner, grants: readonly SecretGrant[], use: RevealFor): Promise<{ secrets: RevealedSecrets; values: string[] }> {
      const env: Record<string, string> = {};
      const headers: Record<string, string> = {};
      let datasource: string | undefined;
      const values: string[] = [];
      for (const g of grants) {
        let value: string;
        try {
          value = (await deps.vault.revealSecret({ id: g.secretId, toolId: use.toolId, executionId: use.executionId }, await deps.asUser(owner, [['secrets:reveal', g.secretId]]))).value;
        } catch (err) {
          throw new SecretUnavailableError(`granted secret ${g.secretId} (${g.as}) could not be revealed: ${describe(err)}`, { cause: err });
        }
        values.push(value);
        if (g.as === 'datasource') {
          // The password alone may surface in a driver or server message: scrub it too.
          try {
            const password = decodeURIComponent(new URL(value).password);
            if (password.length >= 4) values.push(password, new URL(value).password);
          } catch {
            // not a URL: the executor refuses it
          }
        }
        if (g.as.startsWith('env:')) env[g.as.slice(4)] = value;
        else if (g.as.startsWith('header:')) headers[g.as.slice(7)] = value;
        else if (g.as === 'datasource') datasource = value;
      }
      return { secrets: { env, headers, ...(datasource !== undefined ? { datasource } : {}) }, values };
    },
  };
}

export type SecretGrants = ReturnType<typeof createSecretGrants>;
