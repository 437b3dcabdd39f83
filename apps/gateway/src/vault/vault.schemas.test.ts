import { create } from '@bufbuild/protobuf';
import { RotationSettingsSchema } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { describe, expect, it } from 'vitest';
import { createSecretBody, rotationToJson, rotationToProto } from './vault.schemas.ts';

describe('rotation settings mapping', () => {
  it('fills defaults for a partial rotation input and sends the policy as given', () => {
    const body = createSecretBody.parse({ name: 'n', value: 'v', rotation: { strategy: 'webhook', policy: { url: 'https://x.example.test', timeout_ms: 5000 } } });
    expect(rotationToProto(body.rotation!)).toEqual({ enabled: false, intervalDays: 0, strategy: 'webhook', policy: { url: 'https://x.example.test', timeout_ms: 5000 } });
  });

  it('shows what an older vault does not report as defaults: status ok, nulls for zero and empty', () => {
    expect(rotationToJson(undefined)).toEqual({ enabled: false, interval_days: null, strategy: 'manual', policy: {}, status: 'ok', next_rotation_at: null, last_rotated_at: null, last_error: null, pending_version: null });
    expect(rotationToJson(create(RotationSettingsSchema, { strategy: 'quantum', status: 'exploded' }))).toMatchObject({ strategy: 'manual', status: 'ok' });
  });

  it('passes each known strategy and status through', () => {
    for (const strategy of ['manual', 'random', 'postgres', 'webhook']) expect(rotationToJson(create(RotationSettingsSchema, { strategy })).strategy).toBe(strategy);
    for (const status of ['ok', 'due', 'overdue', 'pending', 'failed']) expect(rotationToJson(create(RotationSettingsSchema, { status })).status).toBe(status);
  });
});
