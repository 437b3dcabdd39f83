import type { OneShotJob } from './one-shot.ts';

// The vault rotates (RotateSecret) and expires (expires_at) secrets one at a
// time for their owner, but has no platform-wide query for secrets due for
// rotation or past expiry, and the scheduler has no vault client yet. Until
// both exist these jobs run, are recorded, and report that plainly.

/** Hourly: rotate secrets whose rotation is due. */
export const rotateSecrets: OneShotJob = async () => ({ detail: 'nothing to do: the scheduler does not query the vault for due rotations yet' });

/** Daily: deactivate secrets past their expiry. */
export const cleanupExpired: OneShotJob = async () => ({ detail: 'nothing to do: the scheduler does not query the vault for expired secrets yet' });
