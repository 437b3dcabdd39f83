import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from './app-error.ts';
import { CODE_TABLE, ERROR_CODES, errorCodeFromConnect } from './codes.ts';
import { describeConnectError, GENERIC_MESSAGES } from './classify.ts';
import { toConnectError } from './connect.ts';
import { renderError } from './envelope.ts';

/** What the PostgreSQL driver throws: a 5-character SQLSTATE `code` and a `severity`. */
const pgDriverError = (message: string) => Object.assign(new Error(message), { code: '40P01', severity: 'ERROR' });

describe('error model', () => {
  it('maps every envelope code to a Connect code that maps back to it', () => {
    for (const code of ERROR_CODES) {
      if (code === 'DATABASE_ERROR') continue; // shares Internal with INTERNAL_ERROR; carried by ErrorDetail instead
      expect(errorCodeFromConnect(CODE_TABLE[code].connect)).toBe(code);
    }
  });

  it('renders NOT_FOUND with resource details and the request id', () => {
    const { status, body } = renderError(new NotFoundError('secret', '42'), 'req-1', false);
    expect(status).toBe(404);
    expect(body).toEqual({ error: { code: 'NOT_FOUND', message: 'Secret 42 not found', details: { resource: 'secret', identifier: '42' }, request_id: 'req-1' } });
  });

  it('hides internal messages in production and shows them in development', () => {
    const err = new Error('connect ECONNREFUSED 10.0.0.5:5432 at pg/lib/client.js');
    expect(renderError(err, 'r', false).body.error).toMatchObject({ code: 'INTERNAL_ERROR', message: 'An internal error occurred' });
    expect(renderError(err, 'r', true).body.error.message).toContain('ECONNREFUSED');
    expect(renderError(pgDriverError('deadlock detected'), 'r', false).body.error).toMatchObject({ code: 'DATABASE_ERROR', message: 'A database error occurred' });
  });

  it('carries an AppError across Connect with its code, message and details', () => {
    const wire = toConnectError(new ConflictError('Version mismatch', { expected: '3', actual: '4' }), false);
    expect(wire.code).toBe(Code.AlreadyExists);
    const back = renderError(wire, 'r', false);
    expect(back.status).toBe(409);
    expect(back.body.error).toMatchObject({ code: 'CONFLICT', message: 'Version mismatch', details: { expected: '3', actual: '4' } });
  });

  it('keeps DATABASE_ERROR distinct from INTERNAL_ERROR across Connect', () => {
    const wire = toConnectError(pgDriverError('deadlock detected'), false);
    expect(describeConnectError(wire).code).toBe('DATABASE_ERROR');
    expect(wire.rawMessage).not.toContain('deadlock');
  });

  it('maps PostgreSQL driver errors to DATABASE_ERROR without their text in production', () => {
    const pgError = Object.assign(new Error('duplicate key value violates unique constraint "users_email_key" on db.internal'), { code: '23505', severity: 'ERROR' });
    expect(renderError(pgError, 'r', false)).toMatchObject({ status: 500, body: { error: { code: 'DATABASE_ERROR', message: 'A database error occurred' } } });
    const wire = toConnectError(pgError, false);
    expect(describeConnectError(wire)).toMatchObject({ code: 'DATABASE_ERROR', message: 'A database error occurred' });
    expect(renderError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'r', false).body.error.code).toBe('INTERNAL_ERROR');
  });

  it('turns unexpected errors into INTERNAL_ERROR without leaking their text when internals are hidden', () => {
    const wire = toConnectError(new TypeError('cannot read x of undefined at /app/src/secret.ts:12'), false);
    expect(wire.code).toBe(Code.Internal);
    expect(wire.rawMessage).toBe('An internal error occurred');
    expect(wire.cause).toBeInstanceOf(TypeError);
  });

  it('gives the same generic message on REST and across Connect for every error whose text is internal', () => {
    const pgError = Object.assign(new Error('relation "vault.secret_versions" does not exist at db.internal:5432'), { code: '42P01', severity: 'ERROR' });
    const cases = [
      [new TypeError('cannot read x of undefined at /app/src/secret.ts:12'), 'INTERNAL_ERROR'],
      [pgError, 'DATABASE_ERROR'],
      ['a thrown string', 'INTERNAL_ERROR'],
      [new ConnectError('upstream stack at /srv/x.ts:3', Code.Internal), 'INTERNAL_ERROR'],
    ] as const;
    for (const [err, code] of cases) {
      const rest = renderError(err, 'r', false).body.error;
      const viaConnect = renderError(toConnectError(err, false), 'r', false).body.error;
      expect(rest).toMatchObject({ code, message: GENERIC_MESSAGES[code] });
      expect(viaConnect).toMatchObject({ code, message: GENERIC_MESSAGES[code] });
      expect(toConnectError(err, false).rawMessage).toBe(GENERIC_MESSAGES[code]);
    }
    // Development shows the error's own text on both paths alike.
    expect(renderError(toConnectError(pgError, true), 'r', true).body.error.message).toBe(renderError(pgError, 'r', true).body.error.message);
  });

  it('maps foreign Connect errors by code, and unavailability to 503', () => {
    expect(renderError(new ConnectError('connect ECONNREFUSED', Code.Unavailable), 'r', false)).toMatchObject({
      status: 503,
      body: { error: { code: 'EXTERNAL_SERVICE_ERROR', message: 'A backend service is unavailable' } },
    });
    expect(renderError(new ConnectError('bad', Code.InvalidArgument), 'r', false).status).toBe(422);
  });

  it('renders validation errors as 422 with field details', () => {
    const { status, body } = renderError(new ValidationError('Request validation failed', { name: 'required' }), 'r', false);
    expect(status).toBe(422);
    expect(body.error.details).toEqual({ name: 'required' });
  });
});
