import type { RevealSigningSecret, SigningSecretRef } from './alert.types.ts';

/**
 * Revealed signing secrets, kept in memory for `ttlMs` so a burst of
 * deliveries reveals each secret once; concurrent requests for one secret
 * share the reveal. Failures are not cached.
 */
export function createSigningSecretCache(reveal: RevealSigningSecret, ttlMs: number) {
  const entries = new Map<string, { value: Promise<string>; until: number }>();
  const keyOf = (ref: SigningSecretRef) => `${ref.owner.id}\u0000${ref.signingSecretId}`;

  return {
    get(ref: SigningSecretRef): Promise<string> {
      const key = keyOf(ref);
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.until > now) return hit.value;
      for (const [k, e] of entries) if (e.until <= now) entries.delete(k);
      const value = reveal(ref);
      entries.set(key, { value, until: now + ttlMs });
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      return value;
    },
    forget(ref: SigningSecretRef): void {
      entries.delete(keyOf(ref));
    },
  };
}
