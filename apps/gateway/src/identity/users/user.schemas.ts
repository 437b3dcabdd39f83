import { z } from 'zod';
import { PASSWORD_MAX_LENGTH } from './passwords.ts';
import type { RoleRecord } from './roles.repository.ts';
import type { UserRecord } from './users.repository.ts';

/**
 * Identity text that reaches PostgreSQL (queries, rows, audit jsonb) never
 * holds a control character: PostgreSQL refuses U+0000 in text and jsonb,
 * and the others only serve to forge log and audit lines.
 */
export const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]*$/u;
const noControl = 'must not contain control characters';

// Transport limits only; the password policy itself is applied by the services (422 either way).
// Passwords are only ever hashed, never stored or audited: any character is allowed.
const password = z.string().min(1).max(PASSWORD_MAX_LENGTH * 4);
const username = z
  .string()
  .regex(NO_CONTROL_CHARACTERS, noControl)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/, '3-64 characters: letters, digits, . _ -, starting with a letter or digit');
const email = z.email().max(254).regex(NO_CONTROL_CHARACTERS, noControl);
const roleName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'an upper-case role name such as ADMIN');

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    is_active: z.boolean(),
    roles: z.array(z.string()),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    last_login_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'User' });

export const meSchema = userSchema.extend({ permissions: z.array(z.string()) }).meta({ id: 'Me' });

export const tokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().describe('Lifetime of the access token in seconds'),
  })
  .meta({ id: 'TokenPair' });

export const roleSchema = z
  .object({ name: z.string(), description: z.string(), permissions: z.array(z.string()) })
  .meta({ id: 'Role' });

export const registerBody = z.object({ username, email, password }).meta({ id: 'RegisterRequest' });
export const loginBody = z
  .object({ username: z.string().min(1).max(320).regex(NO_CONTROL_CHARACTERS, noControl).describe('Username or email'), password })
  .meta({ id: 'LoginRequest' });
export const refreshBody = z.object({ refresh_token: z.string().min(1).max(512) }).meta({ id: 'RefreshRequest' });

export const createUserBody = z
  .object({ username, email, password, roles: z.array(roleName).max(32).optional(), is_active: z.boolean().optional() })
  .meta({ id: 'CreateUserRequest' });
export const patchUserBody = z
  .object({ username: username.optional(), email: email.optional(), password: password.optional(), is_active: z.boolean().optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'at least one field is required' })
  .meta({ id: 'UpdateUserRequest' });
export const setRolesBody = z.object({ roles: z.array(roleName).max(32) }).meta({ id: 'SetRolesRequest' });


export const userJson = (u: UserRecord): z.infer<typeof userSchema> => ({
  id: u.id,
  username: u.username,
  email: u.email,
  is_active: u.isActive,
  roles: [...u.roles],
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
  last_login_at: u.lastLoginAt ? u.lastLoginAt.toISOString() : null,
});

export const roleJson = (r: RoleRecord): z.infer<typeof roleSchema> => ({ name: r.name, description: r.description, permissions: [...r.permissions] });

export const tokenJson = (pair: { accessToken: string; refreshToken: string; expiresIn: number }): z.infer<typeof tokenPairSchema> => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  token_type: 'bearer',
  expires_in: pair.expiresIn,
});
