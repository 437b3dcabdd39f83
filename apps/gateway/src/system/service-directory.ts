import type { DescService } from '@bufbuild/protobuf';
import { ConnectError, type CallOptions, type Client, type Interceptor } from '@connectrpc/connect';
import { principalHeaders, servicePrincipal, type InternalTokenSigner } from '@csda/auth';
import type { ServiceInfo } from '@csda/proto/csda/common/v1/service_info_pb.js';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '@csda/proto/grpc/health/v1/health_pb.js';
import { createServiceClient, describeFailure } from '@csda/service-kit';
import type { Config } from '../config.ts';

export type ServiceState = 'ready' | 'not_ready' | 'unreachable';

export interface ServiceHealth {
  readonly name: string;
  readonly state: ServiceState;
  readonly detail?: string;
}

interface Backend {
  readonly name: string;
  readonly health: Client<typeof Health>;
  getInfo(timeoutMs: number, headers: Record<string, string>): Promise<ServiceInfo | undefined>;
}

const HEALTH_TIMEOUT_MS = 1_500;

type GetInfo<S extends DescService> = (client: Client<S>, options: CallOptions) => Promise<{ info?: ServiceInfo }>;

function backend<S extends DescService>(name: string, service: S, url: string, getInfo: GetInfo<S>, interceptors: Interceptor[]): Backend {
  const client = createServiceClient(service, url, interceptors);
  return {
    name,
    health: createServiceClient(Health, url, interceptors),
    getInfo: async (timeoutMs, headers) => (await getInfo(client, { timeoutMs, headers })).info,
  };
}

/** The gateway's own identity for calls it makes on its behalf (GetInfo). */
const GATEWAY_PRINCIPAL = servicePrincipal('gateway', ['system:read']);

/** The five backend services the gateway reaches over Connect (`interceptors`: client metrics…). */
export function createServiceDirectory(
  config: Pick<Config, 'VAULT_URL' | 'TOOL_RUNNER_URL' | 'DOCUMENT_INGEST_URL' | 'SEARCH_URL' | 'SCHEDULER_URL'>,
  signer: Pick<InternalTokenSigner, 'sign'>,
  interceptors: Interceptor[] = [],
) {
  const backends: Backend[] = [
    backend('vault', VaultService, config.VAULT_URL, (c, options) => c.getInfo({}, options), interceptors),
    backend('tool-runner', ToolRunnerService, config.TOOL_RUNNER_URL, (c, options) => c.getInfo({}, options), interceptors),
    backend('document-ingest', DocumentIngestService, config.DOCUMENT_INGEST_URL, (c, options) => c.getInfo({}, options), interceptors),
    backend('search', SearchService, config.SEARCH_URL, (c, options) => c.getInfo({}, options), interceptors),
    backend('scheduler', SchedulerService, config.SCHEDULER_URL, (c, options) => c.getInfo({}, options), interceptors),
  ];
  return {
    /** gRPC health of every backend, in parallel, each bounded by a short deadline. */
    async health(): Promise<ServiceHealth[]> {
      return Promise.all(
        backends.map(async (b): Promise<ServiceHealth> => {
          try {
            const res = await b.health.check({ service: '' }, { timeoutMs: HEALTH_TIMEOUT_MS });
            return res.status === HealthCheckResponse_ServingStatus.SERVING ? { name: b.name, state: 'ready' } : { name: b.name, state: 'not_ready' };
          } catch (err) {
            return { name: b.name, state: 'unreachable', detail: err instanceof ConnectError ? err.rawMessage : describeFailure(err) };
          }
        }),
      );
    },
    /** GetInfo of every backend; an unreachable one is reported, not thrown. */
    async info(timeoutMs: number): Promise<{ name: string; info?: ServiceInfo; error?: string }[]> {
      return Promise.all(
        backends.map(async (b) => {
          try {
            // Each token names its callee: one minted for the vault is refused by every other service.
            const headers = principalHeaders(await signer.sign(GATEWAY_PRINCIPAL, b.name));
            return { name: b.name, info: await b.getInfo(timeoutMs, headers) };
          } catch (err) {
            return { name: b.name, error: err instanceof ConnectError ? err.rawMessage : describeFailure(err) };
          }
        }),
      );
    },
  };
}

export type ServiceDirectory = ReturnType<typeof createServiceDirectory>;
