import { z } from 'zod';
import { NO_CONTROL_CHARACTERS, email, noControl, password, userSchema, username } from '../users/user.schemas.ts';

export const meSchema = userSchema.extend({ permissions: z.array(z.string()) }).meta({ id: 'Me' });

export const tokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().describe('Lifetime of the access token in seconds'),
  })
  .meta({ id: 'TokenPair' });

export const registerBody = z.object({ username, email, password }).meta({ id: 'RegisterRequest' });
export const loginBody = z
  .object({ username: z.string().min(1).max(320).regex(NO_CONTROL_CHARACTERS, noControl).describe('Username or email'), password })
  .meta({ id: 'LoginRequest' });
export const refreshBody = z.object({ refresh_token: z.string().min(1).max(512) }).meta({ id: 'RefreshRequest' });

export const tokenJson = (pair: { accessToken: string; refreshToken: string; expiresIn: number }): z.infer<typeof tokenPairSchema> => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  token_type: 'bearer',
  expires_in: pair.expiresIn,
});
