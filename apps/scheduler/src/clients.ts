import type { CallOptions, Client } from '@connectrpc/connect';
import { actingFor, principalHeaders, servicePrincipal, type InternalTokenSigner, type OnBehalfOf, type Permission } from '@csda/auth';
import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createServiceClient, type ServiceRuntime } from '@csda/service-kit';
import type { Config } from './config.ts';

/** The services the scheduler calls; each token names its callee, so one minted for the vault is refused by the gateway. */
export type Audience = 'vault' | 'gateway' | 'tool-runner' | 'document-ingest';

/** The scheduler on its own behalf: no permissions; the vault and the gateway admit `service:scheduler` by id for its RPCs. */
const SCHEDULER = servicePrincipal('scheduler', []);

export interface SchedulerClients {
  readonly vault: Client<typeof VaultService>;
  readonly gateway: Client<typeof GatewayService>;
  /** run_tool schedules: always acting for the schedule's owner, scoped to the one tool. */
  readonly toolRunner: Client<typeof ToolRunnerService>;
  /** reindex_document schedules: always acting for the schedule's owner, scoped to the one document. */
  readonly documents: Client<typeof DocumentIngestService>;
  /** Call options carrying the scheduler's own identity for `audience`. */
  asScheduler(audience: Audience): Promise<CallOptions>;
  /**
   * Call options for the scheduler acting for `user` (a schedule's owner),
   * allowed exactly `grants` (`[permission, resource id]`), e.g. `[['secrets:write', secretId]]`.
   */
  asUser(user: OnBehalfOf, grants: readonly (readonly [Permission, string])[], audience: Audience): Promise<CallOptions>;
}

/** Connect clients to the vault, the tool-runner, document-ingest and the gateway's RPC port, signing with the scheduler's key. */
export function createClients(
  runtime: Pick<ServiceRuntime, 'identity' | 'metrics'>,
  config: Pick<Config, 'VAULT_URL' | 'GATEWAY_URL' | 'TOOL_RUNNER_URL' | 'DOCUMENT_INGEST_URL'>,
): SchedulerClients {
  const signer: Pick<InternalTokenSigner, 'sign'> | undefined = runtime.identity.signer;
  if (!signer) throw new Error('the scheduler has no internal signing key (INTERNAL_SIGNING_KEY)');
  const interceptors = [runtime.metrics.rpcClientInterceptor];
  return {
    vault: createServiceClient(VaultService, config.VAULT_URL, interceptors),
    gateway: createServiceClient(GatewayService, config.GATEWAY_URL, interceptors),
    toolRunner: createServiceClient(ToolRunnerService, config.TOOL_RUNNER_URL, interceptors),
    documents: createServiceClient(DocumentIngestService, config.DOCUMENT_INGEST_URL, interceptors),
    async asScheduler(audience) {
      return { headers: principalHeaders(await signer.sign(SCHEDULER, audience)) };
    },
    async asUser(user, grants, audience) {
      return { headers: principalHeaders(await signer.sign(actingFor(SCHEDULER, user, grants), audience)) };
    },
  };
}
