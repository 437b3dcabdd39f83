import type { Principal } from '@csda/auth';
import { AuthorizationError, ConflictError, ValidationError } from '@csda/errors';
import { secretFact } from '../secrets/secret.audit.ts';
import type { SecretQueries } from '../secrets/secret.repository.ts';
import type { CallContext } from '../secrets/secret.service.ts';

/** The only principal that reveals for tools and changes tool grants. */
export const TOOL_RUNNER_PRINCIPAL_ID = 'service:tool-runner';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A reveal for one execution of one tool, as the tool-runner names it. */
export interface ToolUse {
  readonly toolId: string;
  readonly executionId: string;
}

export const isToolRunner = (p: Principal) => p.kind === 'service' && p.id === TOOL_RUNNER_PRINCIPAL_ID;

/**
 * Who may say a reveal is for a tool: only the tool-runner, acting for the
 * tool's owner, and it must say so (both ids) on every reveal. Returns the
 * checked use, or undefined for anyone else's ordinary reveal.
 */
export function checkToolUse(p: Principal, toolId: string, executionId: string): ToolUse | undefined {
  if (!isToolRunner(p)) {
    if (toolId || executionId) throw new AuthorizationError('Only the tool-runner service may reveal a secret for a tool');
    return undefined;
  }
  const bad: Record<string, string> = {};
  if (!UUID.test(toolId)) bad.tool_id = 'required for the tool-runner: the id (UUID) of the tool the secret is granted to';
  if (!UUID.test(executionId)) bad.execution_id = 'required for the tool-runner: the id (UUID) of the execution';
  if (Object.keys(bad).length > 0) throw new ValidationError('A reveal by the tool-runner names the tool and the execution', bad);
  if (!p.onBehalfOf) throw new AuthorizationError('The tool-runner reveals only acting for the tool owner');
  return { toolId: toolId.toLowerCase(), executionId: executionId.toLowerCase() };
}

export const toolUseDetails = (use: ToolUse | undefined): Record<string, string> => (use ? { tool_id: use.toolId, execution_id: use.executionId } : {});

/**
 * The grant behind a tool's reveal: an active grant of the secret to the
 * tool by the owner it acts for. Otherwise the refusal is audited and thrown
 * with a message the execution shows as is (never a value).
 */
export async function requireGrant(repo: Pick<SecretQueries, 'grantState' | 'audit'>, ctx: CallContext, secretId: string, use: ToolUse): Promise<void> {
  const state = await repo.grantState(secretId, use.toolId, ctx.principal.onBehalfOf!.id);
  if (state === 'active') return;
  const reason = state === 'revoked' ? 'grant_revoked' : 'not_granted';
  await repo.audit(secretFact(ctx, 'secret_reveal_refused', secretId, { reason, ...toolUseDetails(use) }, 'failure'));
  if (state === 'revoked') {
    throw new ConflictError(`grant of secret ${secretId} to tool ${use.toolId} was revoked`, { resource: 'secret', identifier: secretId, tool_id: use.toolId, reason });
  }
  throw new AuthorizationError(`secret ${secretId} is not granted to tool ${use.toolId}`);
}
