import type { Client } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import type { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { itemGen } from '../cache/families.ts';
import { uncached, type Cached } from '../cache/response-cache.ts';
import { backendCallOptions, type PrincipalSigner } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, protectedErrorResponses } from '../http/schemas.ts';
import { grantParams, grantSchema, grantToJson, listGrantsQuery } from './grant.schemas.ts';
import {
  createSecretBody,
  listQuery,
  msFromIso,
  putValueBody,
  revealQuery,
  revealResponse,
  rotateBody,
  rotationToProto,
  secretSchema,
  secretToJson,
  updateSecretBody,
  versionSchema,
} from './vault.schemas.ts';

export interface VaultRouteDeps {
  readonly vault: Client<typeof VaultService>;
  /** Mints the short-lived internal identity token for a principal. */
  readonly signer: PrincipalSigner;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
  /** Wraps the cached metadata reads (list, detail; never a value); default: no cache. */
  readonly cached?: Cached;
}

const errors = { 404: errorEnvelopeSchema, 409: errorEnvelopeSchema, ...protectedErrorResponses };

/** `/api/v1/vault/secrets…`: REST ↔ VaultService over Connect, as the authenticated caller. */
export function vaultRoutes(deps: VaultRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'vault');
  const tags = ['vault'];
  const cached = deps.cached ?? uncached;

  return async (app) => {
    app.get(
      '/secrets',
      { preHandler: deps.authorize('secrets:read'), schema: { tags, security: bearerAuth, summary: 'List secrets you own or that are shared with your roles (filter by tag, name prefix, rotation status)', querystring: listQuery, response: { 200: pageOf(secretSchema, 'SecretPage'), ...errors } } },
      cached({ family: 'secrets' }, async (request) => {
        const q = request.query;
        const res = await deps.vault.listSecrets({ limit: q.limit, offset: q.offset, tag: q.tag ?? '', namePrefix: q.name_prefix ?? '', rotationStatus: q.rotation_status ?? '' }, await callOptions(request));
        return { items: res.items.map(secretToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      }),
    );

    app.post(
      '/secrets',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Create a secret (version 1 holds the value)', body: createSecretBody, response: { 201: secretSchema, ...errors } } },
      async (request, reply) => {
        const b = request.body;
        const res = await deps.vault.createSecret(
          {
            name: b.name,
            value: b.value,
            description: b.description,
            tags: b.tags,
            sharedWithRoles: b.shared_with_roles,
            expiresAtMs: msFromIso(b.expires_at),
            rotation: b.rotation ? rotationToProto(b.rotation) : undefined,
          },
          await callOptions(request),
        );
        return reply.status(201).send(secretToJson(res.secret!));
      },
    );

    app.get(
      '/secrets/:id',
      { preHandler: deps.authorize('secrets:read'), schema: { tags, security: bearerAuth, summary: 'Secret metadata (no value)', params: idParams, response: { 200: secretSchema, ...errors } } },
      cached({ family: 'secrets', generations: (request) => [itemGen('secrets', (request.params as { id: string }).id)] }, async (request) => secretToJson((await deps.vault.getSecret({ id: request.params.id }, await callOptions(request))).secret!)),
    );

    app.patch(
      '/secrets/:id',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Change metadata, sharing, expiry or rotation settings (rotation is replaced as a whole)', params: idParams, body: updateSecretBody, response: { 200: secretSchema, ...errors } } },
      async (request) => {
        const b = request.body;
        const res = await deps.vault.updateSecret(
          {
            id: request.params.id,
            name: b.name,
            description: b.description,
            tags: b.tags ?? [],
            setTags: b.tags !== undefined,
            sharedWithRoles: b.shared_with_roles ?? [],
            setSharedWithRoles: b.shared_with_roles !== undefined,
            expiresAtMs: msFromIso(b.expires_at),
            setExpiresAt: b.expires_at !== undefined,
            isActive: b.is_active,
            rotation: b.rotation ? rotationToProto(b.rotation) : undefined,
          },
          await callOptions(request),
        );
        return secretToJson(res.secret!);
      },
    );

    app.delete(
      '/secrets/:id',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Delete a secret (soft delete)', params: idParams, response: { 204: z.null(), ...errors } } },
      async (request, reply) => {
        await deps.vault.deleteSecret({ id: request.params.id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/secrets/:id/value',
      { preHandler: deps.authorize('secrets:reveal'), schema: { tags, security: bearerAuth, summary: 'Reveal the value of the current or a given version (audited)', params: idParams, querystring: revealQuery, response: { 200: revealResponse, ...errors } } },
      async (request, reply) => {
        const res = await deps.vault.revealSecret({ id: request.params.id, version: request.query.version ?? 0 }, await callOptions(request));
        void reply.header('cache-control', 'no-store');
        return { value: res.value, version: res.version };
      },
    );

    app.put(
      '/secrets/:id/value',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Store a new value as a new version (optional check-and-set)', params: idParams, body: putValueBody, response: { 200: secretSchema, ...errors } } },
      async (request) => {
        const res = await deps.vault.putSecretValue({ id: request.params.id, value: request.body.value, expectedVersion: request.body.expected_version }, await callOptions(request));
        return secretToJson(res.secret!);
      },
    );

    app.get(
      '/secrets/:id/versions',
      { preHandler: deps.authorize('secrets:read'), schema: { tags, security: bearerAuth, summary: 'Versions of a secret, newest first, without values', params: idParams, response: { 200: pageOf(versionSchema, 'SecretVersionPage'), ...errors } } },
      async (request) => {
        const res = await deps.vault.listSecretVersions({ id: request.params.id }, await callOptions(request));
        const items = res.items.map((v) => ({ version: v.version, key_id: v.keyId, created_by: v.createdBy, created_at: new Date(Number(v.createdAtMs)).toISOString(), is_current: v.isCurrent, is_pending: v.isPending }));
        return { items, total: items.length, limit: items.length, offset: 0 };
      },
    );

    app.post(
      '/secrets/:id/rotate',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Rotate now through the secret\'s strategy (manual: the body\'s value is required; random, postgres, webhook: no value, the strategy makes one); returns the metadata', params: idParams, body: rotateBody, response: { 200: secretSchema, ...errors } } },
      async (request) => {
        const res = await deps.vault.rotateSecret({ id: request.params.id, value: request.body?.value ?? '' }, await callOptions(request));
        return secretToJson(res.secret!);
      },
    );

    app.get(
      '/secrets/:id/grants',
      { preHandler: deps.authorize('secrets:read'), schema: { tags, security: bearerAuth, summary: 'Tools this secret is granted to, newest first (the secret’s owner or an admin; include_revoked for the history)', params: idParams, querystring: listGrantsQuery, response: { 200: pageOf(grantSchema, 'SecretGrantPage'), ...errors } } },
      async (request) => {
        const q = request.query;
        const res = await deps.vault.listSecretGrants({ secretId: request.params.id, includeRevoked: q.include_revoked === 'true', limit: q.limit, offset: q.offset }, await callOptions(request));
        return { items: res.items.map(grantToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );

    app.delete(
      '/secrets/:id/grants/:tool_id',
      { preHandler: deps.authorize('secrets:write'), schema: { tags, security: bearerAuth, summary: 'Revoke the secret’s grant to a tool (the secret’s owner or an admin): the tool’s executions then fail instead of revealing it', params: grantParams, response: { 204: z.null(), ...errors } } },
      async (request, reply) => {
        await deps.vault.revokeSecretGrant({ secretId: request.params.id, toolId: request.params.tool_id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );
  };
}
