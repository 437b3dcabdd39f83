import { randomUUID } from 'node:crypto';
import { requireScoped, subjectOf, type Principal } from '@csda/auth';
import { ConflictError, NotFoundError, ValidationError } from '@csda/errors';
import type { AuditOutbox, Subjects } from '@csda/service-kit';
import type { SecretGrants } from '../executions/secret-grants.ts';
import { enqueueToolChanged } from './tool-events.ts';
import type { ToolRepository, Visibility } from './tool.repository.ts';
import { TOOL_TYPES, type SecretGrant, type ToolRecord } from './tool.types.ts';
import { validateTool, type ToolInputData, type ValidationDeps } from './tool.validation.ts';

/** The user a tool belongs to, as the vault should see them when it reveals the tool's secrets. */
export interface ToolOwner {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
}

export interface ToolServiceDeps {
  readonly repository: () => ToolRepository;
  readonly validation: ValidationDeps;
  /**
   * The vault's side of the tool's secrets. `check`: the owner may use each
   * granted secret (it exists and is visible to them), else ValidationError
   * naming `secrets[i].secret_id`. `record`: the vault's grants of the tool
   * become `grants`. `revokeAll`: the tool is gone.
   */
  readonly grants: Pick<SecretGrants, 'check' | 'record' | 'revokeAll'>;
  /** Subjects of the ResourceChanged each change commits with (the gateway's cache invalidation). */
  readonly subjects: Subjects;
  /** Audit records; `kick` publishes what a change's transaction put in the outbox. */
  readonly audit?: Pick<AuditOutbox, 'record' | 'kick'>;
  readonly clock?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkToolId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('tool', id.slice(0, 64));
  return id.toLowerCase();
}

export function checkPaging(limit: number, offset: number): { limit: number; offset: number } {
  return { limit: limit <= 0 ? 50 : Math.min(limit, 200), offset: Math.max(0, offset) };
}

export const visibilityOf = (p: Principal): Visibility => ({ userId: subjectOf(p).id, roles: subjectOf(p).roles });
const ownerOf = (p: Principal): ToolOwner => ({ id: subjectOf(p).id, name: p.onBehalfOf?.name ?? p.name, roles: subjectOf(p).roles });

/**
 * The tool registry: validation, ownership and versions; no transport, no SQL.
 * Everyone with tools:read sees their own, public and role-shared tools; only
 * the owner changes or deletes one. "Not found" and "not yours" are one answer.
 */
export function createToolService(deps: ToolServiceDeps) {
  const clock = deps.clock ?? (() => new Date());
  const audit = (p: Principal, action: string, id: string, details: Record<string, string>) =>
    deps.audit?.record({ action, actor: p.id, actorName: p.name, resourceType: 'tool', resourceId: id, details: p.onBehalfOf ? { ...details, on_behalf_of: p.onBehalfOf.id } : details });

  /** Granting a secret needs the caller's secrets:reveal, and the vault must show them the secret. */
  async function authorizeGrants(p: Principal, grants: readonly SecretGrant[]): Promise<void> {
    if (grants.length === 0) return;
    const permissions = p.onBehalfOf ? [] : p.permissions;
    if (!permissions.includes('secrets:reveal')) throw new ValidationError('Granting secrets to a tool needs secrets:reveal', { secrets: 'you may not reveal secrets, so you may not grant them' });
    await deps.grants.check(ownerOf(p), grants);
  }

  /** The secrets the caller may reveal, which the vault needs in scope to record a new grant. */
  const revealable = (p: Principal, grants: readonly SecretGrant[]) => (!p.onBehalfOf && p.permissions.includes('secrets:reveal') ? grants.map((g) => g.secretId) : []);

  return {
    async create(p: Principal, input: ToolInputData): Promise<ToolRecord> {
      requireScoped(p, 'tools:write');
      const definition = validateTool(input, deps.validation);
      await authorizeGrants(p, definition.secrets);
      const id = randomUUID();
      const owner = ownerOf(p);
      const repo = deps.repository();
      // The vault records the grants before the tool commits (a refusal leaves no tool), so a tool never holds secrets the vault does not know of.
      await repo.transaction(async (tx) => {
        await tx.insert({ id, ownerId: owner.id, ownerName: owner.name, ownerRoles: owner.roles, definition, now: clock() });
        await enqueueToolChanged(tx.em, deps.subjects, { id, ownerId: owner.id }, 'created');
        if (definition.secrets.length > 0) await deps.grants.record(owner, { id, name: definition.name }, definition.secrets, revealable(p, definition.secrets));
      });
      deps.audit?.kick();
      await audit(p, 'tool_created', id, { tool_type: definition.toolType, version: '1', secrets: String(definition.secrets.length), is_public: String(definition.isPublic) });
      return (await repo.findVisible(id, visibilityOf(p)))!;
    },

    async list(p: Principal, filter: { limit: number; offset: number; toolType: string; scope: string }) {
      requireScoped(p, 'tools:read');
      const bad: Record<string, string> = {};
      if (filter.toolType && !(TOOL_TYPES as readonly string[]).includes(filter.toolType)) bad.tool_type = TOOL_TYPES.join(', ');
      if (!['', 'mine', 'public'].includes(filter.scope)) bad.scope = '"mine", "public" or empty';
      if (Object.keys(bad).length > 0) throw new ValidationError('Invalid filter', bad);
      const scope = filter.scope === 'mine' ? 'mine' : filter.scope === 'public' ? 'public' : 'all';
      return deps.repository().list(visibilityOf(p), { scope, toolType: filter.toolType || undefined, ...checkPaging(filter.limit, filter.offset) });
    },

    async get(p: Principal, id: string): Promise<ToolRecord> {
      const toolId = checkToolId(id);
      // A service acting for a user (the scheduler checking a run_tool target) reads exactly the tool its scope names.
      requireScoped(p, 'tools:read', toolId);
      const tool = await deps.repository().findVisible(toolId, visibilityOf(p));
      if (!tool) throw new NotFoundError('tool', id);
      return tool;
    },

    async update(p: Principal, id: string, input: ToolInputData, expectedVersion: number | undefined): Promise<ToolRecord> {
      requireScoped(p, 'tools:write');
      const toolId = checkToolId(id);
      const owner = ownerOf(p);
      const definition = validateTool(input, deps.validation);
      // Only new grants need the caller's reveal right again; kept ones were checked when they were granted.
      const current = await deps.repository().findVisible(toolId, visibilityOf(p));
      if (!current || current.ownerId !== owner.id) throw new NotFoundError('tool', id);
      const kept = new Set(current.secrets.map((g) => `${g.secretId}|${g.as}`));
      await authorizeGrants(p, definition.secrets.filter((g) => !kept.has(`${g.secretId}|${g.as}`)));
      const repo = deps.repository();
      const version = await repo.transaction(async (tx) => {
        const locked = await tx.findOwnForUpdate(toolId, owner.id);
        if (!locked) throw new NotFoundError('tool', id);
        if (expectedVersion !== undefined && locked.version !== expectedVersion) {
          throw new ConflictError(`Tool is at version ${locked.version}, not ${expectedVersion}`, { current_version: String(locked.version) });
        }
        await tx.replace(toolId, locked.version + 1, owner.roles, definition, owner.id, clock());
        // Every save is a new version (definition, sharing or public flag): cached answers about the tool are stale.
        await enqueueToolChanged(tx.em, deps.subjects, { id: toolId, ownerId: owner.id }, 'updated');
        // Under the tool's row lock, so concurrent saves reach the vault in commit order; removed secrets are revoked there.
        if (definition.secrets.length > 0 || locked.secrets.length > 0) {
          await deps.grants.record(owner, { id: toolId, name: definition.name }, definition.secrets, revealable(p, definition.secrets));
        }
        return locked.version + 1;
      });
      deps.audit?.kick();
      await audit(p, 'tool_updated', toolId, { version: String(version), tool_type: definition.toolType, secrets: String(definition.secrets.length) });
      return (await repo.findVisible(toolId, visibilityOf(p)))!;
    },

    async remove(p: Principal, id: string): Promise<void> {
      requireScoped(p, 'tools:write');
      const toolId = checkToolId(id);
      const owner = ownerOf(p);
      await deps.repository().transaction(async (tx) => {
        const locked = await tx.findOwnForUpdate(toolId, owner.id);
        if (!locked) throw new NotFoundError('tool', id);
        await tx.softDelete(toolId, clock());
        await enqueueToolChanged(tx.em, deps.subjects, { id: toolId, ownerId: owner.id }, 'deleted');
        // Before the delete commits: if the vault cannot revoke, the tool stays (and its grants with it).
        if (locked.secrets.length > 0) await deps.grants.revokeAll(owner, toolId);
      });
      deps.audit?.kick();
      await audit(p, 'tool_deleted', toolId, {});
    },

    /** A tool the principal may execute (visible and tools:execute). */
    async executable(p: Principal, id: string): Promise<ToolRecord> {
      const toolId = checkToolId(id);
      // A service acting for a user (a run_tool schedule) holds tools:execute for exactly this tool.
      requireScoped(p, 'tools:execute', toolId);
      const tool = await deps.repository().findVisible(toolId, visibilityOf(p));
      if (!tool) throw new NotFoundError('tool', id);
      return tool;
    },

    /** A tool whose executions the principal may read: visible, and their own executions (owner sees all). */
    async readable(p: Principal, id: string): Promise<ToolRecord> {
      const toolId = checkToolId(id);
      requireScoped(p, 'tools:read', toolId);
      const tool = await deps.repository().findVisible(toolId, visibilityOf(p));
      if (!tool) throw new NotFoundError('tool', id);
      return tool;
    },

  };
}

export type ToolService = ReturnType<typeof createToolService>;
