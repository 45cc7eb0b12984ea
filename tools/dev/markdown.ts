// Reading and rewriting the repository's markdown: the docs test (tools/dev/test/docs.test.ts) checks headings and
// links with these, and the webhook challenge's archive (platform/webhook-platform/archive.ts) rewrites links with
// them. Fenced code blocks and code spans are never read as markdown.

/** The sections every part's README carries, as level-2 headings, in this order. */
export const PART_SECTIONS = [
  'How to run',
  'Why these tools',
  'Key challenges',
  'Caveats and failure scenarios',
  'Production differences',
];

const FENCE = /^\s*(```|~~~)/;
// A code span (left as it is) or an inline link or image: [text](target "title").
const SPAN_OR_LINK = /(`[^`]*`)|(!?)\[([^\]]*)\]\(([^)\s]+)((?:\s+"[^"]*")?)\)/g;
const ABSOLUTE_OR_ANCHOR = /^([a-z][a-z0-9+.-]*:|#)/i;

/** The level-2 headings of a markdown text, outside fenced code blocks. */
export function level2Headings(markdown: string): string[] {
  const headings: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (FENCE.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith('## ')) headings.push(line.slice(3).trim());
  }
  return headings;
}

/** Relative link targets of a markdown text (inline links and images), without their anchors. */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  rewriteRelativeLinks(markdown, (target) => {
    links.push(target.split('#')[0]!);
    return undefined;
  });
  return links;
}

/**
 * Calls `rewrite` with each relative link target (path and anchor, as written) outside code and replaces the target
 * with what it returns: a string is the new target, `null` drops the link and keeps its text, `undefined` keeps the
 * link as it is. URLs and same-page anchors are left alone.
 */
export function rewriteRelativeLinks(markdown: string, rewrite: (target: string) => string | null | undefined): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (FENCE.test(line)) {
        fenced = !fenced;
        return line;
      }
      if (fenced) return line;
      return line.replace(
        SPAN_OR_LINK,
        (whole, span: string | undefined, bang: string, text: string, target: string, title: string) => {
          if (span !== undefined || ABSOLUTE_OR_ANCHOR.test(target)) return whole;
          const to = rewrite(target);
          if (to === undefined) return whole;
          if (to === null) return text;
          return `${bang}[${text}](${to}${title})`;
        },
      );
    })
    .join('\n');
}
