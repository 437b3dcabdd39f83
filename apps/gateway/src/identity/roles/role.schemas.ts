import { ROLE_NAME_PATTERN } from '@csda/auth';
import { z } from 'zod';
import type { RoleRecord } from './role.repository.ts';

export const roleName = z.string().regex(ROLE_NAME_PATTERN, 'an upper-case role name such as ADMIN');

export const roleSchema = z
  .object({ name: z.string(), description: z.string(), permissions: z.array(z.string()) })
  .meta({ id: 'Role' });

export const roleJson = (r: RoleRecord): z.infer<typeof roleSchema> => ({ name: r.name, description: r.description, permissions: [...r.permissions] });
