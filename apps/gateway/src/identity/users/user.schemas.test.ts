import { describe, expect, it } from 'vitest';
import { loginBody, registerBody } from '../auth/auth.schemas.ts';
import { createUserBody, patchUserBody } from './user.schemas.ts';

const password = 'a-good-long-password';
// Every C0 control (U+0000 included), DEL and the C1 controls.
const controls = [...Array.from({ length: 0x20 }, (_, c) => c), 0x7f, 0x80, 0x85, 0x9f].map((c) => String.fromCharCode(c));

describe('identity request schemas', () => {
  it('refuse control characters in usernames, emails and logins, wherever they stand', () => {
    for (const c of controls) {
      for (const text of [`${c}alice`, `al${c}ice`, `alice${c}`]) {
        const email = `${text}@example.test`;
        expect(loginBody.safeParse({ username: text, password }).success, JSON.stringify(text)).toBe(false);
        expect(loginBody.safeParse({ username: email, password }).success).toBe(false);
        expect(registerBody.safeParse({ username: text, email: 'ok@example.test', password }).success).toBe(false);
        expect(registerBody.safeParse({ username: 'alice', email, password }).success).toBe(false);
        expect(createUserBody.safeParse({ username: text, email: 'ok@example.test', password }).success).toBe(false);
        expect(createUserBody.safeParse({ username: 'alice', email, password }).success).toBe(false);
        expect(patchUserBody.safeParse({ username: text }).success).toBe(false);
        expect(patchUserBody.safeParse({ email }).success).toBe(false);
      }
    }
  });

  it('name the offending field', () => {
    const res = loginBody.safeParse({ username: 'nul\u0000user', password });
    expect(res.success).toBe(false);
    expect(res.error!.issues.map((i) => i.path.join('.'))).toContain('username');
    expect(res.error!.issues.map((i) => i.message)).toContain('must not contain control characters');
  });

  it('still accept ordinary logins, including non-ASCII text', () => {
    for (const username of ['alice', 'Alice@Example.test', 'zoë', 'ünïcödé user', 'x'.repeat(320)]) {
      expect(loginBody.safeParse({ username, password }).success, username).toBe(true);
    }
    expect(registerBody.safeParse({ username: 'alice.b-c_d', email: 'alice@example.test', password }).success).toBe(true);
    // Passwords are only hashed, never stored: any character is allowed.
    expect(loginBody.safeParse({ username: 'alice', password: 'tab\tin a password' }).success).toBe(true);
  });
});
