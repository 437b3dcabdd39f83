import { resourceChangedMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';

/**
 * What a `secret` ResourceChanged says happened (proto/csda/events/v1/resource_changed.proto):
 * `updated` is any change of the metadata the vault shows (including a rotation
 * begun, failed, or an expiry deactivating it); `rotated` a new current
 * version; `grants` a change of the secret's tool grants (ListSecretGrants).
 */
export type SecretChange = 'created' | 'updated' | 'rotated' | 'deleted' | 'grants';

/** One secret that changed, and how; ids only. */
export interface SecretChanged {
  readonly id: string;
  readonly ownerId: string;
  readonly change: SecretChange;
}

/** `csda.events.vault.secret.changed`: the gateway's cache stops reading what it kept about the secret. Never a name or value. */
export const secretChangedMessage = (subjects: Subjects, s: SecretChanged): OutboxMessage =>
  resourceChangedMessage(subjects, 'vault', { resourceType: 'secret', resourceId: s.id, change: s.change, ownerId: s.ownerId });
