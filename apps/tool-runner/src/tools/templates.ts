/** `{{name}}` placeholders of tool templates (argv elements, URLs, headers, bodies, SQL params). */
export const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/** The parameter names a template string refers to. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Text of an input value as a template fills it: strings as they are, everything else as JSON. */
export function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Replaces every placeholder of a plain string template (headers, SQL params): no encoding. */
export function fillText(template: string, input: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => textOf(input[name]));
}

/**
 * A JSON body template: a string that is exactly one placeholder becomes the
 * input value itself (any JSON type); other strings are filled as text; arrays
 * and objects are walked. The input can never add keys or change structure.
 */
export function fillJson(template: unknown, input: Record<string, unknown>): unknown {
  if (typeof template === 'string') {
    const whole = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}$/.exec(template);
    if (whole) return input[whole[1]!] ?? null;
    return fillText(template, input);
  }
  if (Array.isArray(template)) return template.map((t) => fillJson(t, input));
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillJson(v, input)]));
  return template;
}

/** Every placeholder name anywhere in a JSON template. */
export function jsonPlaceholders(template: unknown): string[] {
  if (typeof template === 'string') return placeholders(template);
  if (Array.isArray(template)) return template.flatMap(jsonPlaceholders);
  if (template && typeof template === 'object') return Object.values(template).flatMap(jsonPlaceholders);
  return [];
}
