import { isRoleName } from '@csda/auth';
import { checkUrlTemplate as checkNetUrlTemplate, parseToolAllowHosts } from '@csda/net';
import { ValidationError } from '@csda/errors';
import type { SchemaCompiler } from './input-schema.ts';
import { jsonPlaceholders, placeholders } from './templates.ts';
import { DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, MAX_ROWS_LIMIT, TOOL_TYPES, type SecretGrant, type ToolDefinition, type ToolType } from './tool.types.ts';

/** A tool as it arrives (proto ToolInput mapped to plain JSON). */
export interface ToolInputData {
  readonly name: string;
  readonly description: string;
  readonly toolType: string;
  readonly config: Record<string, unknown> | undefined;
  readonly inputSchema: Record<string, unknown> | undefined;
  readonly timeoutS: number;
  readonly maxOutputBytes: number;
  readonly network: boolean;
  readonly secrets: readonly SecretGrant[];
  readonly isPublic: boolean;
  readonly sharedWithRoles: readonly string[];
}

export interface ValidationDeps {
  readonly maxTimeoutS: number;
  readonly maxOutputBytes: number;
  readonly schemas: SchemaCompiler;
  /** Resolves a bare program name inside the sandbox's PATH; throws with a readable reason. */
  readonly resolveProgram: (name: string) => string;
  /** Throws (an Error with a readable message) unless the statement only reads. */
  readonly checkReadOnlySql: (sql: string) => void;
}

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const RESERVED_ENV = new Set(['PATH', 'HOME', 'LANG', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP']);
const PROGRAM = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const MAX_CODE = 256 * 1024;

type Details = Record<string, string>;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function knownParams(schema: Record<string, unknown>): Set<string> | undefined {
  const props = schema.properties;
  if (!isObject(props)) return schema.additionalProperties === false ? new Set() : undefined;
  return new Set(Object.keys(props));
}

/** Every `{{param}}` must name a property of input_schema (when it lists properties). */
function checkRefs(field: string, names: readonly string[], known: Set<string> | undefined, bad: Details): void {
  if (!known) return;
  const unknown = names.find((n) => !known.has(n));
  if (unknown) bad[field] ??= `{{${unknown}}} is not a property of input_schema`;
}

/** allow_hosts (api_call, and network python/shell tools): each entry a host, `*.domain`, address or CIDR. */
function checkAllowHosts(config: Record<string, unknown>, bad: Details): unknown {
  const allowHosts = config.allow_hosts ?? [];
  if (!Array.isArray(allowHosts) || allowHosts.length > 100) bad['config.allow_hosts'] = 'a list of at most 100 host names or addresses';
  else
    allowHosts.forEach((h, i) => {
      if (typeof h !== 'string' || h.length > 253) return void (bad[`config.allow_hosts[${i}]`] = 'a host name, IP address or CIDR');
      try {
        parseToolAllowHosts([h]);
      } catch (err) {
        bad[`config.allow_hosts[${i}]`] = err instanceof Error ? err.message : 'a host name, IP address or CIDR';
      }
    });
  return Array.isArray(allowHosts) ? allowHosts.map((h) => String(h).toLowerCase()) : allowHosts;
}

/** A sandboxed tool's allow_hosts: what its egress proxy may reach beyond public hosts; kept only when given. */
function sandboxAllowHosts(config: Record<string, unknown>, bad: Details): Record<string, unknown> {
  return config.allow_hosts === undefined ? {} : { allow_hosts: checkAllowHosts(config, bad) };
}

function checkPython(config: Record<string, unknown>, bad: Details): Record<string, unknown> {
  const code = config.code;
  if (typeof code !== 'string' || code.trim() === '') bad['config.code'] = 'required: the Python source';
  else if (Buffer.byteLength(code) > MAX_CODE) bad['config.code'] = `at most ${MAX_CODE} bytes`;
  else if (code.includes('\u0000')) bad['config.code'] = 'must not contain NUL';
  for (const k of Object.keys(config)) if (k !== 'code' && k !== 'allow_hosts') bad[`config.${k}`] ??= 'unknown field';
  return { code, ...sandboxAllowHosts(config, bad) };
}

function checkShell(config: Record<string, unknown>, deps: ValidationDeps, known: Set<string> | undefined, bad: Details): Record<string, unknown> {
  const command = config.command;
  for (const k of Object.keys(config)) if (k !== 'command' && k !== 'allow_hosts') bad[`config.${k}`] ??= 'unknown field';
  const allowHosts = sandboxAllowHosts(config, bad);
  if (!Array.isArray(command) || command.length === 0) {
    bad['config.command'] = 'required: an argv template, e.g. ["grep", "-c", "{{pattern}}"]';
    return { command, ...allowHosts };
  }
  if (command.length > 256) bad['config.command'] = 'at most 256 elements';
  command.forEach((arg, i) => {
    const field = `config.command[${i}]`;
    if (typeof arg !== 'string') bad[field] = 'a string';
    else if (arg.length > 8_192 || arg.includes('\u0000')) bad[field] = 'at most 8192 characters, no NUL';
    else checkRefs(field, placeholders(arg), known, bad);
  });
  const program = command[0];
  if (typeof program === 'string' && !bad['config.command[0]']) {
    if (placeholders(program).length > 0) bad['config.command[0]'] = 'the program cannot be a parameter';
    else if (!PROGRAM.test(program)) bad['config.command[0]'] = 'a bare program name (no path), resolved in the sandbox PATH';
    else {
      try {
        deps.resolveProgram(program);
      } catch (err) {
        bad['config.command[0]'] = err instanceof Error ? err.message : `${program} is not in the sandbox PATH`;
      }
    }
  }
  return { command, ...allowHosts };
}

/** URL template: http(s), a literal host (never a parameter), parameters only in path and query. */
export function checkUrlTemplate(url: unknown): string | undefined {
  if (typeof url !== 'string' || url === '') return 'required: an http or https URL';
  if (url.length > 8_192 || CONTROL.test(url) || /\s/.test(url)) return 'at most 8192 characters, no spaces or control characters';
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!m) return 'must start with http:// or https://';
  if (placeholders(m[2]!).length > 0 || m[2]!.includes('{')) return 'the host cannot be a parameter: parameters go into the path or query';
  if (m[2]!.includes('@')) return 'must not contain user info (user:password@)';
  let parsed: URL;
  try {
    parsed = new URL(url.replace(/\{\{[^}]*\}\}/g, 'x'));
  } catch {
    return 'not a valid URL';
  }
  if (!parsed.hostname) return 'needs a host';
  if (parsed.hash) return 'must not contain a #fragment';
  return checkNetUrlTemplate(url);
}

function checkApi(config: Record<string, unknown>, known: Set<string> | undefined, bad: Details): Record<string, unknown> {
  const allowedKeys = new Set(['method', 'url', 'headers', 'body', 'allow_hosts', 'retries']);
  for (const k of Object.keys(config)) if (!allowedKeys.has(k)) bad[`config.${k}`] ??= 'unknown field';
  const method = typeof config.method === 'string' ? config.method.toUpperCase() : config.method === undefined ? 'GET' : undefined;
  if (!method || !METHODS.includes(method)) bad['config.method'] = METHODS.join(', ');
  const urlProblem = checkUrlTemplate(config.url);
  if (urlProblem) bad['config.url'] = urlProblem;
  else checkRefs('config.url', placeholders(config.url as string), known, bad);
  const headers = config.headers ?? {};
  if (!isObject(headers)) bad['config.headers'] = 'an object of header name → value template';
  else {
    for (const [name, value] of Object.entries(headers)) {
      const field = `config.headers.${name}`;
      if (!HEADER_NAME.test(name)) bad[field] = 'not a valid header name';
      else if (typeof value !== 'string' || value.length > 8_192 || CONTROL.test(value)) bad[field] = 'a string of at most 8192 characters, no control characters';
      else if (['host', 'content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase())) bad[field] = 'set by the client, not by the tool';
      else checkRefs(field, placeholders(value), known, bad);
    }
  }
  const body = config.body;
  if (body !== undefined && body !== null) {
    if (method === 'GET' || method === 'HEAD') bad['config.body'] = `${method} requests have no body`;
    else if (JSON.stringify(body).length > 256 * 1024) bad['config.body'] = 'at most 256 KiB of JSON';
    else checkRefs('config.body', jsonPlaceholders(body), known, bad);
  }
  const allowHosts = checkAllowHosts(config, bad);
  const retries = config.retries ?? 2;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 5) bad['config.retries'] = 'a whole number from 0 to 5';
  return {
    method,
    url: config.url,
    headers,
    ...(body !== undefined && body !== null ? { body } : {}),
    allow_hosts: allowHosts,
    retries,
  };
}

function checkSql(config: Record<string, unknown>, deps: ValidationDeps, known: Set<string> | undefined, bad: Details): Record<string, unknown> {
  const allowedKeys = new Set(['datasource', 'query', 'params', 'max_rows']);
  for (const k of Object.keys(config)) if (!allowedKeys.has(k)) bad[`config.${k}`] ??= 'unknown field';
  if (typeof config.datasource !== 'string' || !UUID.test(config.datasource)) bad['config.datasource'] = 'required: the id of a vault secret holding a PostgreSQL URL';
  const query = config.query;
  if (typeof query !== 'string' || query.trim() === '') bad['config.query'] = 'required: one SELECT statement with $1… placeholders';
  else if (query.length > 100_000) bad['config.query'] = 'at most 100000 characters';
  else {
    try {
      deps.checkReadOnlySql(query);
    } catch (err) {
      bad['config.query'] = err instanceof Error ? err.message : 'refused';
    }
  }
  const params = config.params ?? [];
  if (!Array.isArray(params) || params.length > 100) bad['config.params'] = 'a list of at most 100 parameter templates';
  else
    params.forEach((p, i) => {
      if (typeof p === 'string') checkRefs(`config.params[${i}]`, placeholders(p), known, bad);
      else if (p !== null && typeof p !== 'number' && typeof p !== 'boolean') bad[`config.params[${i}]`] = 'a template string, number, boolean or null';
    });
  const maxRows = config.max_rows ?? DEFAULT_MAX_ROWS;
  if (typeof maxRows !== 'number' || !Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_ROWS_LIMIT) bad['config.max_rows'] = `a whole number from 1 to ${MAX_ROWS_LIMIT}`;
  return { datasource: typeof config.datasource === 'string' ? config.datasource.toLowerCase() : config.datasource, query, params, max_rows: maxRows };
}

function checkSecrets(type: ToolType | undefined, secrets: readonly SecretGrant[], config: Record<string, unknown>, bad: Details): SecretGrant[] {
  const out: SecretGrant[] = [];
  if (secrets.length > 20) bad.secrets = 'at most 20 grants';
  const targets = new Set<string>();
  secrets.forEach((g, i) => {
    const field = `secrets[${i}]`;
    if (!UUID.test(g.secretId)) return void (bad[`${field}.secret_id`] = 'a secret id (UUID)');
    const as = g.as.trim();
    let ok = false;
    if (as.startsWith('env:')) {
      const name = as.slice(4);
      if (!ENV_NAME.test(name) || RESERVED_ENV.has(name)) bad[`${field}.as`] = 'env:NAME with NAME in A-Z, 0-9, _ (not PATH, HOME, LANG or a loader variable)';
      else if (type !== 'python_script' && type !== 'shell_command') bad[`${field}.as`] = 'env: grants are for python_script and shell_command tools';
      else ok = true;
    } else if (as.startsWith('header:')) {
      if (!HEADER_NAME.test(as.slice(7))) bad[`${field}.as`] = 'header:Name with a valid header name';
      else if (type !== 'api_call') bad[`${field}.as`] = 'header: grants are for api_call tools';
      else ok = true;
    } else if (as === 'datasource') {
      if (type !== 'sql_query') bad[`${field}.as`] = 'datasource grants are for sql_query tools';
      else if (config.datasource !== g.secretId.toLowerCase()) bad[`${field}.as`] = 'the datasource grant must be the secret named in config.datasource';
      else ok = true;
    } else bad[`${field}.as`] = '"env:NAME", "header:Name" or "datasource"';
    const key = as.toLowerCase();
    if (ok && targets.has(key)) bad[`${field}.as`] = `${as} is granted twice`;
    targets.add(key);
    if (ok) out.push({ secretId: g.secretId.toLowerCase(), as });
  });
  // The datasource is always a grant: added when the caller did not list it.
  if (type === 'sql_query' && typeof config.datasource === 'string' && UUID.test(config.datasource) && !out.some((g) => g.as === 'datasource')) {
    if (!secrets.some((g) => g.as.trim() === 'datasource')) out.push({ secretId: config.datasource.toLowerCase(), as: 'datasource' });
  }
  return out;
}

/**
 * Validates a whole tool and throws one ValidationError naming every bad
 * field (`name`, `config.command[0]`, `input_schema`, …), so a client fixes
 * its request in one round trip. Returns the normalised definition.
 */
export function validateTool(input: ToolInputData, deps: ValidationDeps): ToolDefinition {
  const bad: Details = {};
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200 || CONTROL.test(name)) bad.name = '1 to 200 printable characters';
  if (input.description.length > 4_000) bad.description = 'at most 4000 characters';
  const toolType = (TOOL_TYPES as readonly string[]).includes(input.toolType) ? (input.toolType as ToolType) : undefined;
  if (!toolType) bad.tool_type = TOOL_TYPES.join(', ');
  let inputSchema: Record<string, unknown> = { type: 'object' };
  try {
    inputSchema = deps.schemas.check(input.inputSchema);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    Object.assign(bad, err.details);
  }
  const known = bad.input_schema ? undefined : knownParams(inputSchema);
  const raw = input.config ?? {};
  let config: Record<string, unknown> = {};
  if (toolType === 'python_script') config = checkPython(raw, bad);
  else if (toolType === 'shell_command') config = checkShell(raw, deps, known, bad);
  else if (toolType === 'api_call') config = checkApi(raw, known, bad);
  else if (toolType === 'sql_query') config = checkSql(raw, deps, known, bad);
  const timeoutS = input.timeoutS === 0 ? Math.min(DEFAULT_TIMEOUT_S, deps.maxTimeoutS) : input.timeoutS;
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > deps.maxTimeoutS) bad.timeout_s = `1 to ${deps.maxTimeoutS} seconds`;
  const maxOutputBytes = input.maxOutputBytes === 0 ? Math.min(DEFAULT_MAX_OUTPUT_BYTES, deps.maxOutputBytes) : input.maxOutputBytes;
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 1 || maxOutputBytes > deps.maxOutputBytes) bad.max_output_bytes = `1 to ${deps.maxOutputBytes} bytes`;
  if (input.network && toolType !== 'python_script' && toolType !== 'shell_command' && toolType !== undefined) bad.network = 'applies to python_script and shell_command tools only';
  if (!input.network && (toolType === 'python_script' || toolType === 'shell_command') && Array.isArray(config.allow_hosts) && config.allow_hosts.length > 0) {
    bad['config.allow_hosts'] ??= 'applies only with network: true (the hosts the egress proxy may reach)';
  }
  const secrets = checkSecrets(toolType, input.secrets, config, bad);
  const roles = [...new Set(input.sharedWithRoles)];
  if (roles.length > 50) bad.shared_with_roles = 'at most 50 roles';
  roles.forEach((r, i) => {
    if (!isRoleName(r)) bad[`shared_with_roles[${i}]`] = 'a role name (upper case letters, digits, _)';
  });
  const fields = Object.keys(bad);
  if (fields.length > 0) throw new ValidationError(fields.length === 1 ? `Invalid tool: ${fields[0]}` : `Invalid tool: ${fields.join(', ')}`, bad);
  return { name, description: input.description, toolType: toolType!, config, inputSchema, timeoutS, maxOutputBytes, network: input.network, secrets, isPublic: input.isPublic, sharedWithRoles: roles };
}
