import { expect } from 'vitest';

export interface RestResponse {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies; the assertions check their shape
  readonly body: Record<string, any> | undefined;
}

/**
 * A JSON client for the gateway's REST API, for tests on a real stack.
 * `baseUrl` is read on every call: stacks start in beforeAll, after the
 * client is made.
 */
export function restClient(baseUrl: () => string) {
  const api = async (method: string, path: string, token?: string, body?: unknown): Promise<RestResponse> => {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as RestResponse['body']) : undefined };
  };
  /** Logs in (must succeed) and returns the whole token response. */
  const session = async (username: string, password: string) => {
    const res = await api('POST', '/api/v1/auth/login', undefined, { username, password });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { access_token: string; refresh_token: string; token_type: string; expires_in: number };
  };
  /** Logs in (must succeed) and returns the access token. */
  const login = async (username: string, password: string) => (await session(username, password)).access_token;
  return { api, login, session };
}
