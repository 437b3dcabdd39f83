import { isIP } from 'node:net';
import { resolveChecked, ResolutionError, type AllowList, type Resolver } from '@csda/net';
import pg from 'pg';

/*
 * Where a sql_query tool may connect. The datasource URL comes from a user's
 * secret and names any host it likes, so without this the tool-runner would
 * open connections to internal services on a user's behalf. The host is
 * resolved once by @csda/net's resolveChecked (every address public, or
 * permitted by TOOLS_SQL_ALLOW), and the client connects to the checked
 * address (no second lookup for DNS rebinding to answer differently). TLS
 * (sslmode=require|verify-ca|verify-full) names the URL's host as SNI and,
 * for verify-full, checks the certificate against it.
 */
export interface DatasourceGuardOptions {
  readonly allow: AllowList;
  readonly resolver?: Resolver;
  /** Builds the client for a checked address; default `new pg.Client(config)`. Tests inject one. */
  readonly dial?: (config: pg.ClientConfig) => pg.Client;
}

const RESOLVE_TIMEOUT_MS = 5_000;

/** The datasource's address is refused (a permanent failure of the execution). */
export class DatasourceRefusedError extends Error {
  readonly code = 'DATASOURCE_REFUSED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'DatasourceRefusedError';
  }
}

function sslFor(mode: string | null, host: string): pg.ClientConfig['ssl'] {
  const sni = isIP(host) === 0 ? { servername: host.replace(/\.$/, '') } : {};
  if (mode === 'require' || mode === 'prefer') return { rejectUnauthorized: false, ...sni };
  if (mode === 'verify-ca') return { rejectUnauthorized: true, ...sni, checkServerIdentity: () => undefined };
  if (mode === 'verify-full') return { rejectUnauthorized: true, ...sni };
  return false;
}

/**
 * Checks a datasource URL and returns the `connect` function for
 * runReadOnlyQuery that dials the checked address. Throws
 * DatasourceRefusedError before anything connects.
 */
export async function guardDatasource(url: string, options: DatasourceGuardOptions): Promise<(config: pg.ClientConfig) => pg.Client> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatasourceRefusedError('the datasource secret is not a postgres:// URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new DatasourceRefusedError('the datasource secret is not a postgres:// URL');
  const host = decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new DatasourceRefusedError('the datasource URL names no host (a local socket is not allowed)');
  let addresses: readonly string[];
  try {
    addresses = await resolveChecked(host, { allow: options.allow, resolver: options.resolver, timeoutMs: RESOLVE_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof ResolutionError) throw new DatasourceRefusedError(`the datasource host ${host} does not resolve`);
    throw new DatasourceRefusedError(`${err instanceof Error ? err.message : `host ${host} is refused`} (TOOLS_SQL_ALLOW)`);
  }
  const dial = options.dial ?? ((config: pg.ClientConfig) => new pg.Client(config));
  const target = addresses[0]!;
  return (config) => {
    const { connectionString: _url, ...rest } = config;
    return dial({
      ...rest,
      host: target,
      port: parsed.port ? Number(parsed.port) : 5432,
      user: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username),
      ssl: sslFor(parsed.searchParams.get('sslmode'), host),
    });
  };
}
