import { describe, expect, it } from 'vitest';
import { formatTsquery, keywordQuery, parseTsquery, positiveLexemes } from './tsquery.ts';

describe('tsquery text', () => {
  it('parses what websearch_to_tsquery prints, with tsquery precedence', () => {
    expect(parseTsquery(`'cat' & 'dog' & !'mice' & 'black' <-> 'hat'`)).toEqual({
      kind: 'and',
      args: [
        { kind: 'term', lexeme: 'cat', suffix: '' },
        { kind: 'term', lexeme: 'dog', suffix: '' },
        { kind: 'not', arg: { kind: 'term', lexeme: 'mice', suffix: '' } },
        { kind: 'phrase', distance: 1, left: { kind: 'term', lexeme: 'black', suffix: '' }, right: { kind: 'term', lexeme: 'hat', suffix: '' } },
      ],
    });
    expect(parseTsquery(`'quot' <-> 'phrase' | 'singl'`)?.kind).toBe('or');
    expect(parseTsquery(`'a' <3> 'b'`)).toMatchObject({ kind: 'phrase', distance: 3 });
    expect(parseTsquery(`'cat' & !( 'big' <-> 'fish' )`)).toMatchObject({ kind: 'and', args: [{ kind: 'term' }, { kind: 'not', arg: { kind: 'phrase' } }] });
    expect(parseTsquery('')).toBeUndefined();
  });

  it('reads quoted lexemes with escaped quotes and backslashes, and prefix/weight suffixes', () => {
    expect(parseTsquery(`'o''reilli' & 'a\\\\b' & 'pre':*`)).toEqual({
      kind: 'and',
      args: [
        { kind: 'term', lexeme: "o'reilli", suffix: '' },
        { kind: 'term', lexeme: 'a\\b', suffix: '' },
        { kind: 'term', lexeme: 'pre', suffix: ':*' },
      ],
    });
  });

  it('refuses what is not tsquery text', () => {
    for (const bad of [`'open`, `'a' &`, `( 'a'`, `'a' ) 'b'`, 'plain', `'a' <x> 'b'`]) expect(() => parseTsquery(bad), bad).toThrow(SyntaxError);
  });

  it('formats a tree back with quotes escaped', () => {
    const tree = parseTsquery(`'o''b' & !'c' | 'd' <2> 'e'`)!;
    expect(formatTsquery(tree)).toBe(`( ( 'o''b' ) & ( !( 'c' ) ) ) | ( ( 'd' ) <2> ( 'e' ) )`);
    expect(parseTsquery(formatTsquery(tree))).toEqual(tree);
  });

  it('lists positive lexemes once, skipping negated ones', () => {
    expect(positiveLexemes(parseTsquery(`'a' & !'b' & 'c' <-> 'a' | !( 'd' & 'e' )`))).toEqual(['a', 'c']);
  });
});

describe('keywordQuery (OR semantics)', () => {
  it('turns the top-level AND of words into OR, phrases kept whole', () => {
    expect(keywordQuery(`'vitamin' & 'c' & 'defici'`)).toEqual({ match: `( 'vitamin' ) | ( 'c' ) | ( 'defici' )`, terms: ['vitamin', 'c', 'defici'] });
    const q = keywordQuery(`'cat' & 'black' <-> 'hat'`);
    expect(q.match).toBe(`( 'cat' ) | ( ( 'black' ) <-> ( 'hat' ) )`);
    expect(q.terms).toEqual(['cat', 'black', 'hat']);
  });

  it('keeps exclusions required', () => {
    expect(keywordQuery(`'cat' & 'dog' & !'mice'`)).toEqual({ match: `( ( 'cat' ) | ( 'dog' ) ) & ( !( 'mice' ) )`, terms: ['cat', 'dog'] });
  });

  it('leaves an explicit OR and a single term as they are', () => {
    expect(keywordQuery(`'a' | 'b'`)).toEqual({ match: `( 'a' ) | ( 'b' )`, terms: ['a', 'b'] });
    expect(keywordQuery(`'scurvi'`)).toEqual({ match: `'scurvi'`, terms: ['scurvi'] });
  });

  it('matches nothing for no lexemes or only exclusions', () => {
    expect(keywordQuery('')).toEqual({ match: '', terms: [] });
    expect(keywordQuery(`!'dog' & !( 'big' <-> 'fish' )`)).toEqual({ match: '', terms: [] });
  });
});
