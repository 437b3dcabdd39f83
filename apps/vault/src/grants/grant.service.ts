import { requireScoped, scopeAllows, type Principal } from '@csda/auth';
import { AppError, AuthorizationError, NotFoundError, ValidationError } from '@csda/errors';
import { secretFact } from '../secrets/secret.audit.ts';
import type { SecretQueries, SecretRepository } from '../secrets/secret.repository.ts';
import { canModify, visibilityOf, type CallContext } from '../secrets/secret.service.ts';
import { checkId, checkPaging } from '../secrets/secret.validation.ts';
import type { GrantRecord, RevokeReason } from './grant.repository.ts';
import { isToolRunner } from './tool-use.ts';

export interface GrantServiceDeps {
  /** A repository on a fresh EntityManager fork (one per call). */
  readonly repository: () => SecretRepository;
}

/** A secret as a tool uses it. */
export interface ToolBinding {
  readonly secretId: string;
  readonly as: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The tool-runner validates bindings exactly; the vault bounds what it stores.
const BINDING = /^(datasource|env:[A-Za-z_][A-Za-z0-9_]{0,127}|header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128})$/;
const MAX_GRANTS = 32;

function checkToolId(toolId: string): string {
  if (!UUID.test(toolId)) throw new ValidationError('Invalid tool id', { tool_id: 'a tool id (UUID)' });
  return toolId.toLowerCase();
}

function checkBindings(bindings: readonly ToolBinding[]): ToolBinding[] {
  const bad: Record<string, string> = {};
  if (bindings.length > MAX_GRANTS) bad.grants = `at most ${MAX_GRANTS} grants`;
  const seen = new Set<string>();
  const out: ToolBinding[] = [];
  bindings.forEach((b, i) => {
    if (!UUID.test(b.secretId)) return void (bad[`grants[${i}].secret_id`] = 'a secret id (UUID)');
    if (!BINDING.test(b.as)) return void (bad[`grants[${i}].as`] = '"env:NAME", "header:Name" or "datasource"');
    const key = `${b.secretId.toLowerCase()}|${b.as}`;
    if (seen.has(key)) return void (bad[`grants[${i}]`] = 'the same secret and binding twice');
    seen.add(key);
    out.push({ secretId: b.secretId.toLowerCase(), as: b.as });
  });
  if (Object.keys(bad).length > 0) throw new ValidationError('Invalid tool grants', bad);
  return out;
}

/**
 * The tool-runner acting for a tool's owner, with the tool in its scope
 * (tools:write:<tool id>): the only caller that records or revokes a tool's grants.
 */
function toolOwner(p: Principal, toolId: string): { id: string; roles: readonly string[] } {
  if (!isToolRunner(p) || !p.onBehalfOf) throw new AuthorizationError('Only the tool-runner service, acting for the tool owner, may change tool grants');
  requireScoped(p, 'tools:write', toolId);
  return p.onBehalfOf;
}

const grantDetails = (g: Pick<GrantRecord, 'toolId' | 'toolName' | 'as'>, extra: Record<string, string> = {}) => ({ tool_id: g.toolId, tool_name: g.toolName, as: g.as, ...extra });

/**
 * Grants of secrets to tools: recorded and revoked by the tool-runner as
 * tools are saved and deleted, listed and revoked by each secret's owner.
 * Every grant and revoke is audited on the secret, in the transaction that
 * makes it. No transport and no SQL here.
 */
export function createGrantService(deps: GrantServiceDeps) {
  /** Revokes the tool's active grants matching `where`, auditing each; the tool's grants must all be `owner`'s. */
  const revoke = async (tx: SecretQueries, ctx: CallContext, where: { toolId: string; secretId?: string; as?: string }, by: string, reason: RevokeReason) => {
    const revoked = await tx.revokeGrants(where, by, reason);
    for (const g of revoked) await tx.audit(secretFact(ctx, 'secret_grant_revoked', g.secretId, grantDetails(g, { reason, granted_by: g.grantedBy })));
    return revoked;
  };

  /** The secrets whose grants (ListSecretGrants) changed: a `grants` ResourceChanged each, owned by the secret's owner, in this transaction. */
  const grantsChanged = async (tx: SecretQueries, secretIds: readonly string[]) => {
    const owners = await tx.ownersOf(secretIds);
    await tx.changed([...new Set(secretIds)].map((id) => ({ id, ownerId: owners.get(id) ?? '', change: 'grants' as const })));
  };

  /** The tool's active grants, after checking no other user's grants carry its id. */
  const ownActive = async (tx: SecretQueries, toolId: string, ownerId: string) => {
    const active = await tx.activeGrantsOfTool(toolId);
    if (active.some((g) => g.grantedBy !== ownerId)) throw new NotFoundError('tool', toolId);
    return active;
  };

  return {
    /** Makes `bindings` the tool's active grants (see ReplaceToolGrants). */
    async replaceToolGrants(ctx: CallContext, toolId: string, toolName: string, bindings: readonly ToolBinding[]) {
      toolId = checkToolId(toolId);
      const owner = toolOwner(ctx.principal, toolId);
      const wanted = checkBindings(bindings);
      const name = toolName.trim().slice(0, 255);
      const repo = deps.repository();
      return repo.transaction(async (tx) => {
        await tx.lockTool(toolId);
        const active = await ownActive(tx, toolId, owner.id);
        const key = (g: ToolBinding) => `${g.secretId}|${g.as}`;
        const keep = new Set(wanted.map(key));
        const have = new Set(active.map(key));
        const changed: string[] = [];
        let revoked = 0;
        for (const g of active.filter((a) => !keep.has(key(a)))) {
          const gone = await revoke(tx, ctx, { toolId, secretId: g.secretId, as: g.as }, owner.id, 'tool_updated');
          revoked += gone.length;
          changed.push(...gone.map((r) => r.secretId));
        }
        const added = wanted.filter((w) => !have.has(key(w)));
        for (const g of added) {
          // Granting is revealing through the tool: the tool-runner vouches for the caller's secrets:reveal by scoping it.
          if (!scopeAllows(ctx.principal, 'secrets:reveal', g.secretId)) throw new AuthorizationError(`Granting secret ${g.secretId} to a tool needs secrets:reveal on it`);
          if (!(await tx.findVisible(g.secretId, { userId: owner.id, roles: owner.roles, all: false }))) throw new NotFoundError('secret', g.secretId);
          await tx.insertGrant({ secretId: g.secretId, toolId, toolName: name, as: g.as, grantedBy: owner.id });
          await tx.audit(secretFact(ctx, 'secret_granted', g.secretId, grantDetails({ toolId, toolName: name, as: g.as })));
          changed.push(g.secretId);
        }
        // A renamed tool shows under its new name in the grants of each secret it holds.
        changed.push(...(await tx.renameToolGrants(toolId, name)));
        await grantsChanged(tx, changed);
        return { items: await tx.activeGrantsOfTool(toolId), granted: added.length, revoked };
      });
    },

    /** Revokes every active grant of a deleted tool. */
    async revokeToolGrants(ctx: CallContext, toolId: string): Promise<number> {
      toolId = checkToolId(toolId);
      const owner = toolOwner(ctx.principal, toolId);
      return deps.repository().transaction(async (tx) => {
        await tx.lockTool(toolId);
        await ownActive(tx, toolId, owner.id);
        const revoked = await revoke(tx, ctx, { toolId }, owner.id, 'tool_deleted');
        await grantsChanged(tx, revoked.map((g) => g.secretId));
        return revoked.length;
      });
    },

    /** The grants of a secret its owner (or secrets:admin) may manage; others NOT_FOUND. */
    async listSecretGrants(ctx: CallContext, secretId: string, filter: { includeRevoked: boolean; limit: number; offset: number }) {
      secretId = checkId(secretId);
      requireScoped(ctx.principal, 'secrets:read', secretId);
      const repo = deps.repository();
      const secret = await repo.findVisible(secretId, visibilityOf(ctx.principal));
      if (!secret || !canModify(ctx.principal, secret)) throw new NotFoundError('secret', secretId);
      const paging = checkPaging(filter.limit, filter.offset);
      return { ...(await repo.listGrantsOfSecret(secretId, { includeRevoked: filter.includeRevoked, ...paging })), ...paging };
    },

    /** The secret's owner (or secrets:admin) takes a secret away from a tool; NOT_FOUND when it holds no active grant. */
    async revokeSecretGrant(ctx: CallContext, secretId: string, toolId: string): Promise<number> {
      secretId = checkId(secretId);
      toolId = checkToolId(toolId);
      requireScoped(ctx.principal, 'secrets:write', secretId);
      return deps.repository().transaction(async (tx) => {
        const secret = await tx.findVisible(secretId, visibilityOf(ctx.principal));
        if (!secret || !canModify(ctx.principal, secret)) throw new NotFoundError('secret', secretId);
        await tx.lockTool(toolId);
        const revoked = await revoke(tx, ctx, { toolId, secretId }, ctx.principal.onBehalfOf?.id ?? ctx.principal.id, 'owner_revoked');
        if (revoked.length === 0) {
          throw new AppError('NOT_FOUND', `Secret ${secretId} has no active grant to tool ${toolId}`, { details: { resource: 'grant', identifier: toolId } });
        }
        await tx.changed([{ id: secretId, ownerId: secret.ownerId, change: 'grants' }]);
        return revoked.length;
      });
    },
  };
}

export type GrantService = ReturnType<typeof createGrantService>;
