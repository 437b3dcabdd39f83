/**
 * PostgreSQL `tsquery` text (as `websearch_to_tsquery(…)::text` prints it)
 * parsed into a tree, so a web-search query can match with OR semantics:
 * websearch joins bare words with AND, which on natural-language questions
 * (SciFact's claims, users' sentences) leaves almost nothing to rank. BM25
 * wants every chunk that has any of the terms; explicit `-word` exclusions
 * and "quoted phrases" keep their meaning.
 */
export type TsNode =
  | { readonly kind: 'term'; readonly lexeme: string; readonly suffix: string }
  | { readonly kind: 'not'; readonly arg: TsNode }
  | { readonly kind: 'and' | 'or'; readonly args: readonly TsNode[] }
  | { readonly kind: 'phrase'; readonly distance: number; readonly left: TsNode; readonly right: TsNode };

type Token = { t: 'term'; lexeme: string; suffix: string } | { t: 'op'; op: '!' | '&' | '|' | '(' | ')' } | { t: 'phrase'; distance: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ') i++;
    else if (c === "'") {
      let lexeme = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new SyntaxError('unterminated lexeme in tsquery');
        const d = text[i]!;
        if ((d === "'" && text[i + 1] === "'") || (d === '\\' && i + 1 < text.length)) {
          lexeme += text[i + 1];
          i += 2;
        } else if (d === "'") break;
        else {
          lexeme += d;
          i++;
        }
      }
      i++;
      const suffix = /^:[*A-Da-d]+/.exec(text.slice(i))?.[0] ?? '';
      i += suffix.length;
      tokens.push({ t: 'term', lexeme, suffix });
    } else if (c === '<') {
      const m = /^<(-|\d+)>/.exec(text.slice(i));
      if (!m) throw new SyntaxError(`bad phrase operator at ${i}`);
      tokens.push({ t: 'phrase', distance: m[1] === '-' ? 1 : Number(m[1]) });
      i += m[0].length;
    } else if ('!&|()'.includes(c)) {
      tokens.push({ t: 'op', op: c as '!' | '&' | '|' | '(' | ')' });
      i++;
    } else throw new SyntaxError(`unexpected ${JSON.stringify(c)} in tsquery at ${i}`);
  }
  return tokens;
}

/** Parses tsquery text (precedence: ! over <-> over & over |); '' is undefined (no lexemes). */
export function parseTsquery(text: string): TsNode | undefined {
  const tokens = tokenize(text);
  if (tokens.length === 0) return undefined;
  let pos = 0;
  const peek = () => tokens[pos];
  const isOp = (op: string) => {
    const tok = peek();
    return tok?.t === 'op' && tok.op === op;
  };
  const or = (): TsNode => {
    const args = [and()];
    while (isOp('|')) {
      pos++;
      args.push(and());
    }
    return args.length === 1 ? args[0]! : { kind: 'or', args };
  };
  const and = (): TsNode => {
    const args = [phrase()];
    while (isOp('&')) {
      pos++;
      args.push(phrase());
    }
    return args.length === 1 ? args[0]! : { kind: 'and', args };
  };
  const phrase = (): TsNode => {
    let left = unary();
    for (let tok = peek(); tok?.t === 'phrase'; tok = peek()) {
      pos++;
      left = { kind: 'phrase', distance: tok.distance, left, right: unary() };
    }
    return left;
  };
  const unary = (): TsNode => {
    const tok = tokens[pos++];
    if (!tok) throw new SyntaxError('tsquery ends early');
    if (tok.t === 'term') return { kind: 'term', lexeme: tok.lexeme, suffix: tok.suffix };
    if (tok.t === 'op' && tok.op === '!') return { kind: 'not', arg: unary() };
    if (tok.t === 'op' && tok.op === '(') {
      const inner = or();
      if (!isOp(')')) throw new SyntaxError('missing ) in tsquery');
      pos++;
      return inner;
    }
    throw new SyntaxError('unexpected operator in tsquery');
  };
  const root = or();
  if (pos !== tokens.length) throw new SyntaxError('trailing tokens in tsquery');
  return root;
}

const quote = (lexeme: string) => `'${lexeme.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** tsquery text for a tree, fully parenthesised (PostgreSQL reads it back as the same query). */
export function formatTsquery(node: TsNode): string {
  switch (node.kind) {
    case 'term':
      return quote(node.lexeme) + node.suffix;
    case 'not':
      return `!( ${formatTsquery(node.arg)} )`;
    case 'and':
    case 'or':
      return node.args.map((a) => `( ${formatTsquery(a)} )`).join(node.kind === 'and' ? ' & ' : ' | ');
    case 'phrase':
      return `( ${formatTsquery(node.left)} ) ${node.distance === 1 ? '<->' : `<${node.distance}>`} ( ${formatTsquery(node.right)} )`;
  }
}

/** The lexemes a tree asks for, excluding those under a NOT, first-seen order, once each. */
export function positiveLexemes(node: TsNode | undefined): string[] {
  const out = new Set<string>();
  const walk = (n: TsNode) => {
    if (n.kind === 'term') out.add(n.lexeme);
    else if (n.kind === 'and' || n.kind === 'or') n.args.forEach(walk);
    else if (n.kind === 'phrase') {
      walk(n.left);
      walk(n.right);
    }
  };
  if (node) walk(node);
  return [...out];
}

export interface KeywordQuery {
  /** tsquery text a chunk must match ('' = nothing can match). */
  readonly match: string;
  /** Lexemes BM25 scores (positive ones, each once). */
  readonly terms: readonly string[];
}

/**
 * The OR form of a web-search query: the top-level AND's positive parts
 * (words, phrases, OR groups) become alternatives, its negated parts stay
 * required exclusions — `'cat' & 'dog' & !'mice'` → `('cat' | 'dog') & !'mice'`.
 * A query of only exclusions matches nothing (it names nothing to find).
 */
export function keywordQuery(websearchText: string): KeywordQuery {
  const root = parseTsquery(websearchText);
  if (!root) return { match: '', terms: [] };
  const parts = root.kind === 'and' ? root.args : [root];
  const positive = parts.filter((p) => p.kind !== 'not');
  const negative = parts.filter((p) => p.kind === 'not');
  if (positive.length === 0) return { match: '', terms: [] };
  const any: TsNode = positive.length === 1 ? positive[0]! : { kind: 'or', args: positive };
  const match = negative.length === 0 ? any : { kind: 'and' as const, args: [any, ...negative] };
  return { match: formatTsquery(match), terms: positiveLexemes(match) };
}
