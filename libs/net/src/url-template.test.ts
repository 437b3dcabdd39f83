import { describe, expect, it } from 'vitest';
import { checkUrlTemplate, expandHeaderTemplate, expandJsonTemplate, expandUrlTemplate, templateParameters, TemplateError } from './url-template.ts';

const T = 'https://api.example.com/v1/users/{{id}}/posts?q={{q}}&limit=10#{{frag}}';

function templateError(fn: () => unknown): TemplateError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TemplateError);
  return caught as TemplateError;
}

describe('checkUrlTemplate (at tool definition)', () => {
  it.each([
    'https://api.example.com/v1/users/{{id}}',
    'http://10.0.0.5:8080/x?y={{ y }}',
    'https://api.example.com/{{a}}{{b}}/x',
    'https://api.example.com',
  ])('accepts %s', (t) => {
    expect(checkUrlTemplate(t)).toBeUndefined();
  });

  it.each([
    ['https://{{host}}/x', 'scheme, host or port'],
    ['https://api.{{env}}.example.com/x', 'scheme, host or port'],
    ['https://api.example.com:{{port}}/x', 'scheme, host or port'],
    ['{{scheme}}://api.example.com/', 'must start with http'],
    ['https://{{user}}@api.example.com/', 'scheme, host or port'],
    ['https://user:pw@api.example.com/', 'credentials'],
    ['ftp://files.example.com/{{f}}', 'scheme ftp'],
    ['file:///etc/{{f}}', 'scheme file'],
    ['/relative/{{x}}', 'must start with http'],
    ['https://api.example.com/{{ bad name }}', 'malformed placeholder'],
    ['https://api.example.com/{{x}', 'malformed placeholder'],
    ['https://api.example.com\\@evil.example/', 'backslash'],
    ['https://api.example.com/ x', 'space'],
    ['', 'empty'],
  ])('refuses %j (%s)', (t, why) => {
    expect(checkUrlTemplate(t)).toContain(why);
  });

  it('lists the parameters', () => {
    expect(templateParameters(T)).toEqual(['id', 'q', 'frag']);
  });
});

describe('expandUrlTemplate: a value can never change the URL structure', () => {
  it('encodes each value for its position', () => {
    expect(expandUrlTemplate(T, { id: 42, q: 'a b&c=d', frag: 'top' })).toBe('https://api.example.com/v1/users/42/posts?q=a%20b%26c%3Dd&limit=10#top');
  });

  it.each([
    ['../admin', 'https://api.example.com/v1/users/..%2Fadmin/posts?q=x&limit=10'],
    ['%2e%2e', 'https://api.example.com/v1/users/%252e%252e/posts?q=x&limit=10'],
    ['%2e%2e%2fadmin', 'https://api.example.com/v1/users/%252e%252e%252fadmin/posts?q=x&limit=10'],
    ['?x=1#', 'https://api.example.com/v1/users/%3Fx%3D1%23/posts?q=x&limit=10'],
    ['@evil.example', 'https://api.example.com/v1/users/%40evil.example/posts?q=x&limit=10'],
    ['evil.example:443', 'https://api.example.com/v1/users/evil.example%3A443/posts?q=x&limit=10'],
    ['a\r\nHost: evil', 'https://api.example.com/v1/users/a%0D%0AHost%3A%20evil/posts?q=x&limit=10'],
    ['\\..\\..\\etc', 'https://api.example.com/v1/users/%5C..%5C..%5Cetc/posts?q=x&limit=10'],
    ['ünï/ç😀', 'https://api.example.com/v1/users/%C3%BCn%C3%AF%2F%C3%A7%F0%9F%98%80/posts?q=x&limit=10'],
    ['１２７．０．０．１', 'https://api.example.com/v1/users/%EF%BC%91%EF%BC%92%EF%BC%97%EF%BC%8E%EF%BC%90%EF%BC%8E%EF%BC%90%EF%BC%8E%EF%BC%91/posts?q=x&limit=10'],
    ['...', 'https://api.example.com/v1/users/.../posts?q=x&limit=10'],
  ])('path value %j stays one segment', (id, expected) => {
    const url = expandUrlTemplate('https://api.example.com/v1/users/{{id}}/posts?q={{q}}&limit=10', { id, q: 'x' });
    expect(url).toBe(expected);
    const parsed = new URL(url);
    expect(parsed.origin).toBe('https://api.example.com');
    expect(parsed.pathname.split('/')).toHaveLength(5);
    expect(parsed.searchParams.get('limit')).toBe('10');
  });

  it.each([
    ['&limit=100000', 'q=%26limit%3D100000&limit=10'],
    ['#frag', 'q=%23frag&limit=10'],
    ['x y+z', 'q=x%20y%2Bz&limit=10'],
    ['%26', 'q=%2526&limit=10'],
  ])('query value %j stays one value', (q, expected) => {
    const url = new URL(expandUrlTemplate('https://api.example.com/s?q={{q}}&limit=10', { q }));
    expect(url.search).toBe(`?${expected}`);
    expect(url.searchParams.get('q')).toBe(q);
    expect(url.searchParams.getAll('limit')).toEqual(['10']);
  });

  it.each([
    ['..', 'walks the path'],
    ['.', 'walks the path'],
    ['', 'path segment empty'],
  ])('refuses a path value %j that would make a dot or empty segment', (id, why) => {
    const err = templateError(() => expandUrlTemplate('https://api.example.com/v1/users/{{id}}/posts', { id }));
    expect(err.message).toContain(why);
    expect(err.message).toContain('parameter id');
  });

  it('refuses dots split over two parameters in one segment', () => {
    expect(templateError(() => expandUrlTemplate('https://h.example/a/{{x}}{{y}}/b', { x: '.', y: '.' })).message).toContain('parameter x, y');
  });

  it('allows an empty query value and dots in a longer segment', () => {
    expect(expandUrlTemplate('https://h.example/f/{{name}}.txt?q={{q}}', { name: '..', q: '' })).toBe('https://h.example/f/...txt?q=');
  });

  it('refuses missing, null, object and array values, and lone surrogates, naming the parameter only', () => {
    for (const input of [{}, { id: null }, { id: { a: 1 } }, { id: ['a'] }, { id: Number.NaN }, { id: '\ud800' }]) {
      const err = templateError(() => expandUrlTemplate('https://h.example/u/{{id}}', input as Record<string, unknown>));
      expect(err.message).toMatch(/parameter id/);
    }
    // Inherited properties are not parameters.
    expect(templateError(() => expandUrlTemplate('https://h.example/u/{{constructor}}', {})).message).toContain('has no value');
  });

  it('refuses a template with a placeholder in the host at expansion too', () => {
    expect(templateError(() => expandUrlTemplate('https://{{host}}/x', { host: 'evil.example' })).message).toContain('host');
  });

  it('never expands a value twice', () => {
    expect(expandUrlTemplate('https://h.example/u/{{a}}?b={{b}}', { a: '{{b}}', b: 'x' })).toBe('https://h.example/u/%7B%7Bb%7D%7D?b=x');
  });
});

describe('expandJsonTemplate (body)', () => {
  it('an exact placeholder takes the JSON value; inside a string it becomes text', () => {
    const body = { user: '{{user}}', count: '{{n}}', note: 'hi {{name}}, n={{n}} {{user}}', list: ['{{n}}', 'x'], nested: { flag: '{{ok}}' }, keep: 3 };
    expect(expandJsonTemplate(body, { user: { id: 1 }, n: 5, name: 'Zoë', ok: false })).toEqual({
      user: { id: 1 },
      count: 5,
      note: 'hi Zoë, n=5 {"id":1}',
      list: [5, 'x'],
      nested: { flag: false },
      keep: 3,
    });
  });

  it('keeps hostile strings as plain data and does not expand values again', () => {
    const out = expandJsonTemplate({ q: '{{q}}', s: 'say {{q}}' }, { q: '"}, "admin": true, {"x": "{{q}}' }) as Record<string, string>;
    expect(out.q).toBe('"}, "admin": true, {"x": "{{q}}');
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    expect(Object.keys(out)).toEqual(['q', 's']);
  });

  it('keeps a __proto__ key as data', () => {
    const out = expandJsonTemplate(JSON.parse('{"__proto__": {"polluted": "{{x}}"}}'), { x: 1 }) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('a missing parameter is an error', () => {
    expect(templateError(() => expandJsonTemplate({ a: '{{missing}}' }, {})).message).toBe('parameter missing has no value');
    expect(templateError(() => expandJsonTemplate(['x {{missing}}'], {})).message).toBe('parameter missing has no value');
  });
});

describe('expandHeaderTemplate', () => {
  it('fills values as text', () => {
    expect(expandHeaderTemplate({ 'X-User': 'u-{{id}}', Accept: 'application/json' }, { id: 7 })).toEqual({ 'X-User': 'u-7', Accept: 'application/json' });
  });

  it.each(['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'nul\u0000', 'esc\u001b'])('refuses a value with %j, without echoing it', (value) => {
    const err = templateError(() => expandHeaderTemplate({ 'X-User': '{{v}}' }, { v: value }));
    expect(err.message).toBe('header X-User: the value contains a line break or a control character');
  });

  it('refuses a bad header name', () => {
    expect(templateError(() => expandHeaderTemplate({ 'X Bad': 'v' }, {})).message).toContain('not a valid HTTP header name');
    expect(templateError(() => expandHeaderTemplate({ 'X-Ok\r\n': 'v' }, {})).message).toContain('not a valid HTTP header name');
  });

  it('allows unicode and tabs in values', () => {
    expect(expandHeaderTemplate({ 'X-Name': '{{v}}' }, { v: 'Zoë\tx' })).toEqual({ 'X-Name': 'Zoë\tx' });
  });
});
