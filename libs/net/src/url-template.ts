import { AppError } from '@csda/errors';
import { hasAmbiguousUrlCharacter } from './guarded-http.ts';

/**
 * A template or a parameter value that cannot make a safe request: a
 * placeholder where none may be (the scheme or host), a missing or
 * ill-typed parameter, a value that would change the URL's structure or
 * split a header. An `AppError` with code VALIDATION_ERROR; the message
 * names the parameter or header, never the value (it may be a secret).
 */
export class TemplateError extends AppError {
  constructor(message: string, details: Record<string, string> = {}) {
    super('VALIDATION_ERROR', message, { details });
  }
}

/** `{{name}}` or `{{ name }}`: a JSON-Schema-style property name. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;
const EXACT_PLACEHOLDER = /^\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

type Part = 'path' | 'query' | 'fragment';

/** Where the authority of `template` ends (the first `/`, `?` or `#` after `scheme://`), or undefined. */
function authorityEnd(template: string): number | undefined {
  const scheme = SCHEME.exec(template);
  if (!scheme) return undefined;
  const start = scheme[0].length;
  const rest = template.slice(start).search(/[/?#]/);
  return rest === -1 ? template.length : start + rest;
}

/** The names of the `{{param}}` placeholders in `text`, in order of first use. */
export function templateParameters(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

/**
 * Checks a URL template when a tool is defined: an absolute http(s) URL, no
 * credentials, no backslash, space or control character, every `{{` a
 * well-formed placeholder, and no placeholder in the scheme, host or port
 * (a parameter must never choose where the request goes). Returns a
 * readable reason, or undefined when the template is acceptable.
 */
export function checkUrlTemplate(template: string): string | undefined {
  if (typeof template !== 'string' || template === '') return 'the URL template is empty';
  const stray = template.replace(PLACEHOLDER, '').search(/\{\{|\}\}/);
  if (stray !== -1) return 'the URL template has a malformed placeholder; write {{name}} with a letter, digit, _ or - name';
  if (hasAmbiguousUrlCharacter(template.replace(PLACEHOLDER, 'x'))) return 'the URL template contains a backslash, a space or a control character; percent-encode them';
  const end = authorityEnd(template);
  if (end === undefined) return 'the URL template must start with http:// or https://';
  if (templateParameters(template.slice(0, end)).length > 0) {
    return 'a placeholder may not appear in the scheme, host or port of the URL; put parameters in the path or query';
  }
  let url: URL;
  try {
    url = new URL(template.replace(PLACEHOLDER, 'x'));
  } catch {
    return 'the URL template is not a valid absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the URL scheme ${url.protocol.slice(0, -1)} is refused; only http and https`;
  if (url.username !== '' || url.password !== '') return 'the URL template may not carry credentials (user:password@host); grant a secret as a header';
  if (url.hostname === '') return 'the URL template has no host';
  return undefined;
}

/** A parameter's value as URL text: strings, finite numbers and booleans only. */
function scalarText(name: string, value: unknown, where: string): string {
  if (value === undefined || value === null) throw new TemplateError(`parameter ${name} has no value`, { parameter: name });
  if (typeof value === 'string') return value;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  throw new TemplateError(`parameter ${name} must be a string, number or boolean to go into ${where}`, { parameter: name });
}

function encode(name: string, text: string): string {
  try {
    // Everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is escaped: / ? # @ : & = + % and spaces cannot change the URL's structure.
    return encodeURIComponent(text);
  } catch {
    throw new TemplateError(`parameter ${name} is not valid Unicode text`, { parameter: name });
  }
}

/**
 * Fills a URL template's `{{param}}` placeholders from `input`, each value
 * percent-encoded for where it stands (a path segment, a query value, the
 * fragment) so that no value can add a path segment, a query parameter, a
 * fragment, credentials or a port. A value that would make a path segment
 * `.` or `..` (which URL parsing resolves, walking up the path) or leave a
 * path segment empty is refused, and the result must keep the template's
 * own origin. Throws a TemplateError naming the parameter (never its value).
 */
export function expandUrlTemplate(template: string, input: Record<string, unknown>): string {
  const problem = checkUrlTemplate(template);
  if (problem) throw new TemplateError(problem);
  const end = authorityEnd(template) as number;
  const origin = new URL(template.replace(PLACEHOLDER, 'x')).origin;

  let out = template.slice(0, end);
  let part: Part = 'path';
  /** Placeholder-filled text of the current path segment, to catch dot segments. */
  let segment = '';
  let segmentParams: string[] = [];
  const closeSegment = () => {
    if (part === 'path' && segmentParams.length > 0) {
      const names = segmentParams.join(', ');
      if (segment === '') throw new TemplateError(`parameter ${names} is empty, which would leave a path segment empty`, { parameter: segmentParams[0] as string });
      if (segment === '.' || segment === '..') {
        throw new TemplateError(`parameter ${names} would make the path segment "${segment}", which walks the path`, { parameter: segmentParams[0] as string });
      }
    }
    segment = '';
    segmentParams = [];
  };

  let i = end;
  while (i < template.length) {
    PLACEHOLDER.lastIndex = i;
    const match = PLACEHOLDER.exec(template);
    if (match && match.index === i) {
      const name = match[1] as string;
      const where = part === 'path' ? 'a URL path' : part === 'query' ? 'a URL query' : 'a URL fragment';
      const encoded = encode(name, scalarText(name, Object.hasOwn(input, name) ? input[name] : undefined, where));
      out += encoded;
      // encodeURIComponent leaves "." as it is; "%2e" in a value arrives as "%252e", so only real dots count.
      segment += encoded;
      segmentParams.push(name);
      i += match[0].length;
      continue;
    }
    const ch = template[i] as string;
    if (part === 'path' && (ch === '/' || ch === '?' || ch === '#')) {
      closeSegment();
      if (ch === '?') part = 'query';
      if (ch === '#') part = 'fragment';
    } else if (part === 'query' && ch === '#') {
      part = 'fragment';
    } else {
      segment += ch;
    }
    out += ch;
    i += 1;
  }
  closeSegment();

  let url: URL;
  try {
    url = new URL(out);
  } catch {
    throw new TemplateError('the expanded URL is not a valid URL');
  }
  if (url.origin !== origin || url.username !== '' || url.password !== '') {
    throw new TemplateError('a parameter changed the URL origin; this is refused');
  }
  return url.href;
}

/**
 * Fills a JSON body template: a string that is exactly `{{param}}` becomes
 * the parameter's JSON value (number, object, … as given; a missing
 * parameter is an error); placeholders inside a longer string are replaced
 * by the value as text (JSON for objects and arrays). Object keys are kept
 * as written. Values are inserted once: a value that itself contains
 * `{{other}}` is not expanded again.
 */
export function expandJsonTemplate(value: unknown, input: Record<string, unknown>): unknown {
  if (typeof value === 'string') return expandJsonString(value, input);
  if (Array.isArray(value)) return value.map((item) => expandJsonTemplate(item, input));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty, so a "__proto__" key stays a plain key.
      Object.defineProperty(out, key, { value: expandJsonTemplate(item, input), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function expandJsonString(text: string, input: Record<string, unknown>): unknown {
  const exact = EXACT_PLACEHOLDER.exec(text);
  if (exact) {
    const name = exact[1] as string;
    const v = Object.hasOwn(input, name) ? input[name] : undefined;
    if (v === undefined) throw new TemplateError(`parameter ${name} has no value`, { parameter: name });
    return v;
  }
  return text.replace(PLACEHOLDER, (_, name: string) => textOf(name, Object.hasOwn(input, name) ? input[name] : undefined));
}

function textOf(name: string, value: unknown): string {
  if (value === undefined) throw new TemplateError(`parameter ${name} has no value`, { parameter: name });
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Throws a TemplateError unless `name: value` is a header that cannot split the request. */
export function checkHeader(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new TemplateError(`header name ${JSON.stringify(name.slice(0, 64))} is not a valid HTTP header name`, { header: name.slice(0, 64) });
  // Line breaks would start a new header (or a new request); NUL and other controls are refused by HTTP anyway.
  if ([...value].some((c) => (c < ' ' && c !== '\t') || c === '\u007f')) {
    throw new TemplateError(`header ${name}: the value contains a line break or a control character`, { header: name });
  }
}

/**
 * Fills header value templates (`{{param}}` anywhere in a value, as text)
 * and checks each result: a valid header name, no CR, LF or other control
 * character in the value, whatever the parameters hold.
 */
export function expandHeaderTemplate(headers: Record<string, string>, input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(headers)) {
    const value = String(template).replace(PLACEHOLDER, (_, param: string) => textOf(param, Object.hasOwn(input, param) ? input[param] : undefined));
    checkHeader(name, value);
    out[name] = value;
  }
  return out;
}
