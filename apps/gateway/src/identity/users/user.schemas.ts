import { z } from 'zod';
import { PASSWORD_MAX_LENGTH } from '../passwords.ts';
import { roleName } from '../roles/role.schemas.ts';
import type { UserRecord } from './user.repository.ts';

/**
 * Identity text that reaches PostgreSQL (queries, rows, audit jsonb) never
 * holds a control character: PostgreSQL refuses U+0000 in text and jsonb,
 * and the others only serve to forge log and audit lines.
 */
export const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]*$/u;
export const noControl = 'must not contain control characters';

// Transport limits only; the password policy itself is applied by the services (422 either way).
// Passwords are only ever hashed, never stored or audited: any character is allowed.
export const password = z.string().min(1).max(PASSWORD_MAX_LENGTH * 4);
export const username = z
  .string()
  .regex(NO_CONTROL_CHARACTERS, noControl)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/, '3-64 characters: letters, digits, . _ -, starting with a letter or digit');
export const email = z.email().max(254).regex(NO_CONTROL_CHARACTERS, noControl);

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

