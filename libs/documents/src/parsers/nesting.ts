// Cheap nesting-depth estimates, checked before a DOM or Markdown parser sees
// the text: linkedom, the DOM walk and marked all recurse per level, and a
// hostile file nests 100,000 deep in a megabyte (a stack overflow, or tens of
// seconds of parsing, in the worker). Real documents stay far below the limits.

/** Elements that never take a closing tag, and those whose closing tag is optional (implicitly closed by a sibling). */
const NOT_NESTING = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr', 'param', 'keygen',
  'p', 'li', 'dt', 'dd', 'tr', 'td', 'th', 'option', 'optgroup', 'thead', 'tbody', 'tfoot', 'colgroup', 'rb', 'rt', 'rp', 'html', 'head', 'body',
]);

export const MAX_HTML_DEPTH = 2000;
export const MAX_MARKDOWN_DEPTH = 100;

/** The deepest element nesting that open and close tags imply (comments, scripts and styles skipped; an overestimate for sloppy HTML). */
export function htmlDepth(html: string): number {
  const text = html.replace(/<!--[\s\S]*?-->/g, '').replace(/<(script|style|textarea|template)\b[\s\S]*?<\/\1\s*>/gi, '');
  let depth = 0;
  let max = 0;
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const name = (m[2] ?? '').toLowerCase();
    if (NOT_NESTING.has(name) || m[3] === '/') continue;
    if (m[1] === '/') depth = Math.max(0, depth - 1);
    else if (++depth > max) max = depth;
  }
  return max;
}

/** The deepest block nesting of any line: blockquote markers, or list-item indentation (2 columns a level). */
export function markdownDepth(markdown: string): number {
  let max = 0;
  for (const line of markdown.split('\n')) {
    const prefix = /^[ \t>]*/.exec(line)?.[0] ?? '';
    const quotes = prefix.split('>').length - 1;
    const listIndent = /^( *)([-*+]|\d{1,9}[.)])\s/.exec(line.replace(/^[ \t]*>[ \t>]*/, ''))?.[1]?.length ?? 0;
    max = Math.max(max, quotes, Math.floor(listIndent / 2));
  }
  return max;
}
