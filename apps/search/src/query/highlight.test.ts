import { describe, expect, it } from 'vitest';
import { FRAGMENT_DELIMITER as D, MARK_START as S, MARK_STOP as E, highlightFragments } from './highlight.ts';

describe('highlightFragments', () => {
  it('marks matches and escapes everything else as HTML', () => {
    expect(highlightFragments(`a <b> & ${S}scurvy${E} "x" 'y'`)).toEqual([`a &lt;b&gt; &amp; <mark>scurvy</mark> &quot;x&quot; &#39;y&#39;`]);
  });

  it('escapes markup inside a match too: a script never survives', () => {
    expect(highlightFragments(`${S}<script>${E}alert(1)</script>`)).toEqual(['<mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt;']);
  });

  it('splits fragments and keeps only those with a match', () => {
    expect(highlightFragments(` one ${S}two${E} ${D} no match here ${D}${S}three${E} and ${S}four${E} `)).toEqual([
      'one <mark>two</mark>',
      '<mark>three</mark> and <mark>four</mark>',
    ]);
  });

  it('returns nothing when ts_headline found no match (it then echoes the text start)', () => {
    expect(highlightFragments('The first words of the chunk')).toEqual([]);
    expect(highlightFragments('')).toEqual([]);
    expect(highlightFragments(null)).toEqual([]);
  });

  it('closes an unbalanced mark and ignores a stray stop', () => {
    expect(highlightFragments(`${S}open`)).toEqual(['<mark>open</mark>']);
    expect(highlightFragments(`${E}x ${S}y${E}`)).toEqual(['x <mark>y</mark>']);
  });
});
