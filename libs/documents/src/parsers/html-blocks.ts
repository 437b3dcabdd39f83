// A DOM (linkedom) → Block[] walk shared by the HTML and DOCX parsers (mammoth
// turns DOCX into HTML). Headings, paragraphs, list items with their depth and
// data tables become blocks; scripts, styles, templates, JSON-LD, navigation
// and hidden elements are dropped with their text, and so is page furniture:
// elements whose class or id names navigation, menus, share bars, cookie
// notices and the like, and header/footer/aside outside main or article.
// Tables whose cells hold block content (layout tables) are walked as
// ordinary content. (Readability was tried for boilerplate: on linkedom it took
// 1.7–2.8 s for a 1 MB page and flattened a 507-row data table; not used.)
import type { Block } from '../types.ts';

/** Elements whose content is never document text. */
const DROP = new Set([
  'script', 'style', 'noscript', 'template', 'nav', 'iframe', 'object', 'embed', 'svg', 'canvas', 'button', 'select',
  'option', 'textarea', 'input', 'head', 'title', 'meta', 'link', 'map', 'audio', 'video', 'picture', 'source', 'dialog',
]);
/** ARIA roles of page furniture. */
const DROP_ROLES = new Set(['navigation', 'banner', 'contentinfo', 'search', 'menu', 'menubar', 'toolbar', 'dialog', 'alert']);
/** class/id words (split on spaces, '-' and '_') of page furniture. */
const FURNITURE = new Set([
  'nav', 'navbar', 'navbox', 'navigation', 'menu', 'breadcrumb', 'breadcrumbs', 'sidebar', 'cookie', 'cookies', 'share',
  'sharing', 'social', 'related', 'advert', 'advertisement', 'ads', 'banner', 'skip', 'jump', 'printfooter',
  'catlinks', 'noprint', 'footer', 'masthead', 'newsletter', 'promo',
]);
/** Elements that can be page furniture by their class or id (not inline ones: a heading's link is not a menu). */
const CONTAINERS = new Set(['div', 'section', 'aside', 'header', 'footer', 'ul', 'ol', 'table', 'form', 'p']);
/** Site chrome when not inside main/article. */
const CHROME = new Set(['header', 'footer', 'aside']);
const HEADINGS: Record<string, number> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };
/** Elements that end the running paragraph. */
const BLOCK = new Set([
  'p', 'div', 'section', 'article', 'main', 'aside', 'header', 'footer', 'blockquote', 'pre', 'figure', 'figcaption',
  'address', 'dl', 'dt', 'dd', 'hr', 'form', 'fieldset', 'legend', 'details', 'summary', 'caption', 'center', 'body',
  'html', 'ul', 'ol', 'li', 'table', 'tr', 'td', 'th', 'thead', 'tbody', 'tfoot', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
]);

interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
  getAttribute?(name: string): string | null;
  hasAttribute?(name: string): boolean;
  querySelector?(selector: string): DomNode | null;
}

/** Stands for `<br>` until whitespace is collapsed (source newlines are only whitespace). */
const BR = '\u2028';
const ELEMENT = 1;
const TEXT = 3;

function tag(node: DomNode): string {
  return node.nodeName.toLowerCase();
}

/** Qualifiers that may stand beside a furniture word in an id ("site-nav", "mw-navigation"). */
const ID_QUALIFIERS = new Set(['site', 'page', 'main', 'top', 'bottom', 'global', 'mw', 'left', 'right', 'primary', 'secondary', 'header', 'menu']);

// A class word marks furniture; an id only when all of it is furniture words and qualifiers, because
// section ids are made from headings ("sharing-with-a-single-developer" is content).
function isFurniture(node: DomNode): boolean {
  const classes = node.getAttribute?.('class');
  if (classes) for (const word of classes.toLowerCase().split(/[\s_-]+/)) if (FURNITURE.has(word)) return true;
  const id = node.getAttribute?.('id');
  if (!id) return false;
  const words = id.toLowerCase().split(/[\s_-]+/).filter((w) => w !== '');
  return words.some((w) => FURNITURE.has(w)) && words.every((w) => FURNITURE.has(w) || ID_QUALIFIERS.has(w));
}

function isDropped(node: DomNode, inContent = true): boolean {
  const name = tag(node);
  if (DROP.has(name)) return true;
  if (!inContent && CHROME.has(name)) return true;
  if (CONTAINERS.has(name) && isFurniture(node)) return true;
  if (node.hasAttribute?.('hidden')) return true;
  if (node.getAttribute?.('aria-hidden') === 'true') return true;
  const role = node.getAttribute?.('role');
  if (role && DROP_ROLES.has(role.toLowerCase())) return true;
  const style = node.getAttribute?.('style');
  return style !== null && style !== undefined && /display\s*:\s*none|visibility\s*:\s*hidden/i.test(style);
}

function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f\u00a0\u200b]+/g, ' ').trim();
}

function children(node: DomNode): DomNode[] {
  return Array.from(node.childNodes);
}

/** The visible text of a subtree, inline: block boundaries become spaces, `<br>` a newline. */
function inlineText(node: DomNode, pre = false): string {
  return inlineOf(children(node), pre);
}

function inlineOf(nodes: DomNode[], pre: boolean): string {
  const parts: string[] = [];
  const visit = (n: DomNode, inPre: boolean): void => {
    if (n.nodeType === TEXT) {
      parts.push(n.textContent ?? '');
      return;
    }
    if (n.nodeType !== ELEMENT || isDropped(n)) return;
    const name = tag(n);
    if (name === 'br') return void parts.push(BR);
    if (name === 'img') {
      const alt = n.getAttribute?.('alt');
      if (alt) parts.push(` ${alt} `);
      return;
    }
    const block = BLOCK.has(name);
    if (block) parts.push(' ');
    for (const c of children(n)) visit(c, inPre || name === 'pre');
    if (block) parts.push(' ');
  };
  for (const c of nodes) visit(c, pre);
  const joined = parts.join('');
  if (pre) return joined.replaceAll(BR, '\n').replace(/^\n+|\s+$/g, '');
  return joined
    .split(BR)
    .map(collapse)
    .filter((l) => l !== '')
    .join('\n');
}

function rowsOf(table: DomNode): DomNode[] {
  const rows: DomNode[] = [];
  const visit = (n: DomNode): void => {
    for (const c of children(n)) {
      if (c.nodeType !== ELEMENT) continue;
      const name = tag(c);
      if (name === 'tr') rows.push(c);
      else if (name === 'thead' || name === 'tbody' || name === 'tfoot') visit(c);
    }
  };
  visit(table);
  return rows;
}

function cellsOf(row: DomNode): DomNode[] {
  return children(row).filter((c) => c.nodeType === ELEMENT && (tag(c) === 'td' || tag(c) === 'th') && !isDropped(c));
}

/** A layout table: its cells hold headings, lists or tables, or it has a single column (paragraphs in cells are normal: mammoth writes them). */
function isLayoutTable(table: DomNode, rows: DomNode[]): boolean {
  if (rows.length === 0) return true;
  if (rows.every((r) => cellsOf(r).length <= 1)) return true;
  return table.querySelector?.('td h1, td h2, td h3, td h4, td ul, td ol, td table, th table') != null;
}

/** Walks `root` (a document body or any element) into blocks in reading order. */
export function domToBlocks(root: DomNode): Block[] {
  const blocks: Block[] = [];
  let inline: string[] = [];

  const flush = (): void => {
    const text = inline
      .join('')
      .split(BR)
      .map(collapse)
      .filter((l) => l !== '')
      .join('\n');
    inline = [];
    if (text !== '') blocks.push({ type: 'paragraph', text });
  };

  const walk = (node: DomNode, listDepth: number, inContent = false): void => {
    for (const n of children(node)) {
      if (n.nodeType === TEXT) {
        inline.push(n.textContent ?? '');
        continue;
      }
      if (n.nodeType !== ELEMENT || isDropped(n, inContent)) continue;
      const name = tag(n);
      const level = HEADINGS[name];
      if (level !== undefined) {
        flush();
        const text = collapse(inlineText(n));
        if (text !== '') blocks.push({ type: 'heading', level, text });
      } else if (name === 'ul' || name === 'ol') {
        flush();
        walk(n, listDepth + 1);
      } else if (name === 'li') {
        flush();
        listItem(n, Math.max(0, listDepth - 1));
      } else if (name === 'table') {
        flush();
        table(n, listDepth);
      } else if (name === 'pre') {
        flush();
        const text = inlineText(n, true);
        if (text.trim() !== '') blocks.push({ type: 'paragraph', text });
      } else if (name === 'br') {
        inline.push(BR);
      } else if (name === 'img') {
        const alt = n.getAttribute?.('alt');
        if (alt) inline.push(` ${alt} `);
      } else if (BLOCK.has(name)) {
        flush();
        walk(n, listDepth, inContent || name === 'main' || name === 'article' || n.getAttribute?.('role') === 'main');
        flush();
      } else {
        walk(n, listDepth, inContent);
      }
    }
  };

  // A list item's own text (up to a nested list) is one block; nested lists go one level deeper.
  const listItem = (li: DomNode, depth: number): void => {
    const own: string[] = [];
    const nested: DomNode[] = [];
    for (const c of children(li)) {
      if (c.nodeType === ELEMENT && (tag(c) === 'ul' || tag(c) === 'ol')) nested.push(c);
      else if (c.nodeType === TEXT) own.push(c.textContent ?? '');
      else if (c.nodeType === ELEMENT && !isDropped(c)) own.push(` ${inlineOf([c], false)} `);
    }
    const text = collapse(own.join(''));
    if (text !== '') blocks.push({ type: 'list_item', depth, text });
    for (const list of nested) walk(list, depth + 2);
  };

  const table = (t: DomNode, listDepth: number): void => {
    const rows = rowsOf(t);
    if (isLayoutTable(t, rows)) {
      for (const row of rows) for (const cell of cellsOf(row)) {
        walk(cell, listDepth);
        flush();
      }
      return;
    }
    const texts = rows.map((r) => cellsOf(r).map((c) => collapse(inlineText(c)))).filter((cells) => cells.some((c) => c !== ''));
    if (texts.length === 0) return;
    const first = rows[0];
    const header = first !== undefined && (cellsOf(first).every((c) => tag(c) === 'th') || t.querySelector?.('thead') != null);
    const caption = children(t).find((c) => c.nodeType === ELEMENT && tag(c) === 'caption');
    if (caption) {
      const text = collapse(inlineText(caption));
      if (text !== '') blocks.push({ type: 'paragraph', text });
    }
    blocks.push({ type: 'table', rows: texts, header });
  };

  walk(root, 0);
  flush();
  return blocks;
}
