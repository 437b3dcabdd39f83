import { natsUsers, type NatsPermissions } from './nats-permissions.ts';

/**
 * Where a user's password comes from in the generated file: a literal (dev,
 * tests; the file is then secret) or a nats-server variable resolved from the
 * server's environment (`password: $NATS_PASSWORD_VAULT`), so the shipped
 * file holds no secret. nats-server also accepts a bcrypt hash (`$2a$…`) in
 * either place.
 */
export type NatsPasswordSource = { readonly value: string } | { readonly env: string };

export interface NatsServerConfigOptions {
  /** NATS_NAMESPACE of the platform (subjects, streams and user names follow it). */
  readonly namespace: string;
  /** `host:port` the server listens on. */
  readonly listen: string;
  /** JetStream store directory. */
  readonly storeDir: string;
  /** Password per user name; default: the environment variable {@link natsPasswordEnv}. */
  readonly password?: (user: string) => NatsPasswordSource;
  /** Lines appended at top level (e.g. `server_name`, `cluster { … }`, `http_port`). */
  readonly extra?: readonly string[];
}

/** The server-side environment variable holding `user`'s password (or bcrypt hash): NATS_PASSWORD_TOOL_RUNNER. */
export function natsPasswordEnv(user: string): string {
  return `NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

// nats-server's quoted strings take JSON's escapes; `$` inside quotes is literal.
const q = (s: string) => JSON.stringify(s);
const list = (items: readonly string[], indent: string) => `[\n${items.map((i) => `${indent}  ${q(i)}`).join(',\n')}\n${indent}]`;

function permissionsBlock(p: NatsPermissions, indent: string): string {
  const i2 = `${indent}  `;
  return [
    `permissions: {`,
    `${i2}publish: { allow: ${list(p.publish.allow, `${i2}`)} }`,
    `${i2}subscribe: { allow: ${list(p.subscribe.allow, `${i2}`)} }`,
    `${indent}}`,
  ].join('\n');
}

/**
 * A nats-server (2.9+) configuration: JetStream on, one user per service and
 * the stream provisioner, each with the permissions of nats-permissions.ts.
 * Everything not allowed there is refused by the server.
 */
export function renderNatsServerConfig(options: NatsServerConfigOptions): string {
  const password = options.password ?? ((user: string) => ({ env: natsPasswordEnv(user) }));
  const users = natsUsers(options.namespace).map(({ user, role, permissions }) => {
    const source = password(user);
    const pw = 'env' in source ? `$${source.env}` : q(source.value);
    return [`    # ${role}`, `    {`, `      user: ${q(user)}`, `      password: ${pw}`, `      ${permissionsBlock(permissions, '      ')}`, `    }`].join('\n');
  });
  return [
    `# nats-server configuration for CSDA${options.namespace ? ` (NATS_NAMESPACE=${options.namespace})` : ''}.`,
    '# Generated from libs/service-kit/src/nats-permissions.ts: do not edit by hand.',
    `listen: ${q(options.listen)}`,
    'jetstream {',
    `  store_dir: ${q(options.storeDir)}`,
    '}',
    ...(options.extra ?? []),
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
