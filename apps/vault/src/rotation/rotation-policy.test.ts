import { describe, expect, it } from 'vitest';
import { checkPolicy, webhookUrlProblem } from './rotation-policy.ts';
import { validationDetails } from '@csda/testing';

const SECRET_ID = '3f1c9a52-5d7e-4a53-9a8e-2b1c0d9e8f7a';

describe('rotation policies', () => {
  it('fills in defaults per strategy', () => {
    expect(checkPolicy('random', {})).toEqual({ length: 32, charset: 'alphanumeric' });
    expect(checkPolicy('random', { length: 16, charset: 'hex', prefix: 'sk_' })).toEqual({ length: 16, charset: 'hex', prefix: 'sk_' });
    expect(checkPolicy('manual', undefined)).toEqual({});
    expect(checkPolicy('postgres', {})).toEqual({ password_length: 32 });
    expect(checkPolicy('postgres', { rotator_secret_id: SECRET_ID.toUpperCase(), password_length: 128 })).toEqual({ rotator_secret_id: SECRET_ID, password_length: 128 });
    expect(checkPolicy('webhook', { url: 'https://hooks.example.com/rotate', signing_secret_id: SECRET_ID })).toEqual({
      url: 'https://hooks.example.com/rotate',
      mode: 'push',
      signing_secret_id: SECRET_ID,
      timeout_ms: 10_000,
    });
  });

  it('names every bad field of a random policy', () => {
    expect(validationDetails(() => checkPolicy('random', { length: 15, charset: 'emoji', prefix: 'x'.repeat(33), colour: 'red' }))).toEqual({
      'rotation.policy.length': 'an integer from 16 to 256',
      'rotation.policy.charset': 'alphanumeric | alphanumeric_symbols | hex | base64url',
      'rotation.policy.prefix': 'at most 32 printable ASCII characters',
      'rotation.policy.colour': 'unknown key (known: length, charset, prefix)',
    });
    expect(Object.keys(validationDetails(() => checkPolicy('random', { length: 257 })))).toEqual(['rotation.policy.length']);
    expect(Object.keys(validationDetails(() => checkPolicy('random', { length: 20.5 })))).toEqual(['rotation.policy.length']);
    expect(Object.keys(validationDetails(() => checkPolicy('random', { length: '32' })))).toEqual(['rotation.policy.length']);
    expect(Object.keys(validationDetails(() => checkPolicy('random', { prefix: 'a\nb' })))).toEqual(['rotation.policy.prefix']);
  });

  it('refuses any key for manual, and bad postgres and webhook fields', () => {
    expect(validationDetails(() => checkPolicy('manual', { length: 32 }))).toEqual({ 'rotation.policy.length': 'unknown key (this strategy takes no policy)' });
    expect(validationDetails(() => checkPolicy('postgres', { rotator_secret_id: 'not-a-uuid', password_length: 8 }))).toEqual({
      'rotation.policy.rotator_secret_id': 'a secret id (UUID)',
      'rotation.policy.password_length': 'an integer from 16 to 128',
    });
    expect(validationDetails(() => checkPolicy('webhook', { url: 'http://hooks.example.com', mode: 'both', timeout_ms: 100 }))).toEqual({
      'rotation.policy.url': 'an https:// URL',
      'rotation.policy.mode': 'push | pull',
      'rotation.policy.signing_secret_id': 'required',
      'rotation.policy.timeout_ms': 'an integer from 1000 to 30000',
    });
  });

  it('checks webhook URL syntax only (addresses are the guard’s job at call time)', () => {
    expect(webhookUrlProblem('https://127.0.0.1/hook')).toBeUndefined();
    expect(webhookUrlProblem('https://user:pw@hooks.example.com/')).toMatch(/no credentials/);
    expect(webhookUrlProblem('ftp://hooks.example.com/')).toBe('an https:// URL');
    expect(webhookUrlProblem('not a url')).toBe('an absolute https:// URL');
    expect(webhookUrlProblem('https://hooks.example.com/#frag')).toBe('no #fragment');
  });
});
