import type { OneShotJob } from './one-shot.ts';

// The vault does not expose rotation or expiry yet (its feature issue adds
// them); until then these jobs run, are recorded, and report that plainly.

/** Hourly: rotate secrets whose rotation is due. */
export const rotateSecrets: OneShotJob = async () => ({ detail: 'nothing to do: the vault has no rotation API yet' });

/** Daily: deactivate secrets past their expiry. */
export const cleanupExpired: OneShotJob = async () => ({ detail: 'nothing to do: the vault has no expiry API yet' });
