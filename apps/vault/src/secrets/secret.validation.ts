import { isRoleName } from '@csda/auth';
import { NotFoundError, ValidationError } from '@csda/errors';
import { checkPolicy } from '../rotation/rotation-policy.ts';
import { ROTATION_STATUSES, ROTATION_STRATEGIES, type RotationPolicy, type RotationStatus, type RotationStrategy } from './secret.types.ts';

/** Largest secret value accepted, in bytes of UTF-8. */
export const MAX_VALUE_BYTES = 65_536;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 255 || CONTROL.test(trimmed)) {
    throw new ValidationError('Invalid secret name', { name: '1 to 255 printable characters' });
  }
  return trimmed;
}

export function checkValue(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) throw new ValidationError('Secret value must not be empty', { value: 'required' });
  if (bytes.length > MAX_VALUE_BYTES) throw new ValidationError('Secret value is too large', { value: `at most ${MAX_VALUE_BYTES} bytes` });
  return bytes;
}

export function checkDescription(description: string): string {
  if (description.length > 2_000) throw new ValidationError('Description is too long', { description: 'at most 2000 characters' });
  return description;
}

export function checkTags(tags: readonly string[]): string[] {
  if (tags.length > 50) throw new ValidationError('Too many tags', { tags: 'at most 50' });
  const clean = [...new Set(tags.map((t) => t.trim()))];
  if (clean.some((t) => t.length < 1 || t.length > 64 || CONTROL.test(t))) throw new ValidationError('Invalid tag', { tags: '1 to 64 printable characters each' });
  return clean;
}

export function checkRoles(roles: readonly string[]): string[] {
  const clean = [...new Set(roles)];
  if (clean.length > 20 || clean.some((r) => !isRoleName(r))) throw new ValidationError('Invalid role name', { shared_with_roles: 'upper-case role names, at most 20' });
  return clean;
}

/**
 * Rotation settings: a known strategy, an interval of 1–3650 days, and the
 * strategy's policy (see rotation-policy.ts), each bad field named in the details.
 */
export function checkRotation(
  intervalDays: number | null,
  strategy: string,
  policy?: Readonly<Record<string, unknown>>,
): { intervalDays: number | null; strategy: RotationStrategy; policy: RotationPolicy } {
  if (!(ROTATION_STRATEGIES as readonly string[]).includes(strategy)) throw new ValidationError('Invalid rotation strategy', { 'rotation.strategy': ROTATION_STRATEGIES.join(' | ') });
  if (intervalDays !== null && (!Number.isInteger(intervalDays) || intervalDays < 1 || intervalDays > 3_650)) {
    throw new ValidationError('Invalid rotation interval', { 'rotation.interval_days': '1 to 3650' });
  }
  return { intervalDays, strategy: strategy as RotationStrategy, policy: checkPolicy(strategy as RotationStrategy, policy) };
}

/** A list filter on rotation.status ("" = any). */
export function checkRotationStatus(status: string): RotationStatus | undefined {
  if (!status) return undefined;
  if (!(ROTATION_STATUSES as readonly string[]).includes(status)) throw new ValidationError('Invalid rotation status filter', { rotation_status: ROTATION_STATUSES.join(' | ') });
  return status as RotationStatus;
}

export function checkPaging(limit: number, offset: number): { limit: number; offset: number } {
  return { limit: limit <= 0 ? 50 : Math.min(limit, 200), offset: Math.max(0, offset) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Secret ids are UUIDs; anything else cannot exist (NOT_FOUND, like any unknown id). */
export function checkId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('secret', id.slice(0, 64));
  return id.toLowerCase();
}
