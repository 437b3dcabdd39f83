/**
 * Highlights come from PostgreSQL's ts_headline with control characters as
 * markers (never in indexed text: the content is passed through
 * `translate(content, HIGHLIGHT_STRIP, '')` first), then become HTML here:
 * the text escaped, each match in `<mark>…</mark>` — safe to insert into a
 * page as it is, like Elasticsearch's `encoder: html`.
 */
export const MARK_START = '\u0001';
export const MARK_STOP = '\u0002';
export const FRAGMENT_DELIMITER = '\u0003';
/** Characters removed from content before ts_headline, so markers are unambiguous. */
export const HIGHLIGHT_STRIP = MARK_START + MARK_STOP + FRAGMENT_DELIMITER;
/** Fragments per hit and their size in words. */
export const HIGHLIGHT_OPTIONS = `StartSel=${MARK_START}, StopSel=${MARK_STOP}, FragmentDelimiter=${FRAGMENT_DELIMITER}, MaxFragments=3, MaxWords=30, MinWords=12`;

// eslint-disable-next-line no-control-regex -- the markers are control characters on purpose
const MARKERS = /([\u0001\u0002])/;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * ts_headline's output as HTML fragments, only those holding a match
 * (without one, ts_headline returns the start of the text: not a highlight).
 */
export function highlightFragments(headline: string | null | undefined): string[] {
  if (!headline || !headline.includes(MARK_START)) return [];
  return headline
    .split(FRAGMENT_DELIMITER)
    .filter((fragment) => fragment.includes(MARK_START))
    .map((fragment) => {
      let html = '';
      let open = false;
      for (const part of fragment.trim().split(MARKERS)) {
        if (part === MARK_START) {
          if (!open) html += '<mark>';
          open = true;
        } else if (part === MARK_STOP) {
          if (open) html += '</mark>';
          open = false;
        } else html += escapeHtml(part);
      }
      return open ? `${html}</mark>` : html;
    });
}
