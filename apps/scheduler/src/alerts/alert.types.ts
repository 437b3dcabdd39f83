/** Every alert kind; a webhook's `kinds` is a subset (empty = all). */
export const ALERT_KINDS = ['rotation_due', 'rotation_failed', 'secret_expiring', 'secret_expired'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const isAlertKind = (value: string): value is AlertKind => (ALERT_KINDS as readonly string[]).includes(value);

/** An alert to raise; raised once per `dedupeKey`, however often it is asked for. */
export interface AlertInput {
  readonly dedupeKey: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  /** The user whose resource it is: they see it, admins (`system:read`) see all. */
  readonly ownerId: string;
  readonly resourceType: string;
  readonly resourceId: string;
  /** Readable, never a value. */
  readonly message: string;
}

export interface AlertRecord {
  readonly id: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  readonly ownerId: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly message: string;
  readonly createdAt: Date;
  readonly acknowledgedAt: Date | null;
  readonly acknowledgedBy: string | null;
}

export interface WebhookRecord {
  readonly id: string;
  readonly url: string;
  /** Empty = every kind. */
  readonly kinds: readonly AlertKind[];
  /** The vault secret holding the `whsec_…` signing secret, owned by `createdBy`. */
  readonly signingSecretId: string;
  readonly description: string;
  readonly createdBy: string;
  readonly createdByName: string;
  readonly createdAt: Date;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/**
 * Where a webhook's signing secret lives and whose it is: the vault secret
 * `signingSecretId`, owned by `owner` (the admin who created the webhook).
 * The scheduler reveals it acting for that owner, scoped to that one secret
 * (`actingFor(servicePrincipal('scheduler', []), owner, [['secrets:reveal', signingSecretId]])`).
 * `owner.roles` is empty: the secret must be the owner's own, not one shared with a role.
 */
export interface SigningSecretRef {
  readonly signingSecretId: string;
  readonly owner: { readonly id: string; readonly name: string; readonly roles: readonly string[] };
}

/** Reveals a signing secret (the `whsec_…` value); injected so the integrator passes the vault client. */
export type RevealSigningSecret = (ref: SigningSecretRef) => Promise<string>;
