import { readContract } from '@sre-platform/contracts';
import { Value } from '@sre-platform/service-kit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  C0_OR_DEL,
  CONTROL_CHARACTER,
  LISTED_COMMITS,
  PushEventSchema,
  recipientFor,
  renderMessage,
  summarize,
  type PushEvent,
} from '../src/domain/push.ts';

const load = (name: string) => JSON.parse(readContract(`gitlab/${name}`)) as PushEvent;
const ZERO = '0'.repeat(40);

describe("GitLab's own example payloads", () => {
  it('push.json validates and becomes a message with the head SHA, project, ref, pusher and count', () => {
    const event = load('push.json');
    expect(Value.Check(PushEventSchema, event)).toBe(true);
    const text = renderMessage(summarize(event));
    expect(text).toContain('da1560886d4f094c3e6c9ef40349f7d38b5d27d7');
    expect(text).toContain('branch `master`');
    expect(text).toContain('[mike/diaspora](http://example.com/mike/diaspora)');
    expect(text).toContain('*jsmith*');
    expect(text).toContain('4 commits');
    // GitLab sent 2 of the 4 commits: both are listed, newest first, and the other 2 are counted.
    expect(text).toMatch(/- `da156088` fixed readme \(GitLab dev user\)\n- `b6568db1` Update Catalan translation/);
    expect(text).toContain('- and 2 more');
  });

  it('tag_push.json becomes a new-tag message', () => {
    const event = load('tag_push.json');
    expect(Value.Check(PushEventSchema, event)).toBe(true);
    expect(renderMessage(summarize(event))).toBe(
      '*John Smith* pushed new tag `v1.0.0` of [jsmith/example](http://example.com/jsmith/example) at `82b3d5ae55f7080f1e6022629cdb57bfae7cccc7` ([view](http://example.com/jsmith/example/-/commit/82b3d5ae55f7080f1e6022629cdb57bfae7cccc7))',
    );
  });
});

describe('edge cases GitLab documents', () => {
  const base = load('push.json');

  it('a branch deletion says so, with the SHA it pointed at, and no broken head', () => {
    const event = { ...base, after: ZERO, checkout_sha: null, commits: [], total_commits_count: 0 };
    const text = renderMessage(summarize(event));
    expect(text).toBe(
      '*jsmith* deleted branch `master` of [mike/diaspora](http://example.com/mike/diaspora) (was `95790bf891e76fee5e1747ab589903a6a1f80f22`)',
    );
  });

  it('a SHA-256 repository deletion (64 zeros) is a deletion too', () => {
    const event = {
      ...base,
      before: 'a'.repeat(64),
      after: '0'.repeat(64),
      checkout_sha: null,
      commits: [],
      total_commits_count: 0,
    };
    expect(Value.Check(PushEventSchema, event)).toBe(true);
    expect(summarize(event).deleted).toBe(true);
  });

  it('a new branch without new commits names its head and says there are none', () => {
    const event = { ...base, before: ZERO, ref: 'refs/heads/feature', commits: [], total_commits_count: 0 };
    expect(renderMessage(summarize(event))).toContain(
      'created branch `feature` of [mike/diaspora](http://example.com/mike/diaspora) at `da1560886d4f094c3e6c9ef40349f7d38b5d27d7`',
    );
    expect(renderMessage(summarize(event))).toContain('(no new commits)');
  });

  it(`lists at most ${LISTED_COMMITS} SHAs, then "and N more" from total_commits_count`, () => {
    const commits = Array.from({ length: 20 }, (_, i) => ({
      id: i.toString(16).padStart(40, 'c'),
      title: `change ${i}`,
    }));
    const text = renderMessage(summarize({ ...base, commits, total_commits_count: 57 }));
    expect(text.split('\n').filter((l) => l.startsWith('- `'))).toHaveLength(LISTED_COMMITS);
    expect(text).toContain('- and 47 more');
    expect(text).toContain('57 commits');
  });

  it('keeps commit titles from breaking the markdown: markup characters become look-alikes, lines one line', () => {
    const commits = [{ id: 'd'.repeat(40), title: 'fix `rm -rf` *now* in my_file\nsecond line' }];
    const text = renderMessage(summarize({ ...base, commits, total_commits_count: 1 }));
    expect(text).toContain('- `dddddddd` fix \u02cbrm -rf\u02cb \u2217now\u2217 in my\u02cdfile second line');
    expect(text).toContain('1 commit,');
  });
});

describe('user-controlled text in the message', () => {
  const base = load('push.json');
  const one = (title: string, author = 'Dev') => [{ id: 'e'.repeat(40), title, author: { name: author } }];

  it('keeps a ref name with a backtick (valid in git) inside its code span', () => {
    const text = renderMessage(summarize({ ...base, ref: 'refs/heads/fix-`quote`' }));
    expect(text).toContain('branch `fix-\u02cbquote\u02cb` of');
    expect(text.split('\n')[0]!.match(/`/g)).toHaveLength(4); // the ref's span and the head's, nothing else
  });

  it('neutralises Rocket.Chat link syntax and mentions (@all, @here, @user) in titles and author names', () => {
    const commits = one('see <https://evil.example|the docs> @all @here [x](https://evil.example)', '@admin');
    const text = renderMessage(summarize({ ...base, user_username: '@here', commits, total_commits_count: 1 }));
    expect(text).not.toMatch(/@|<https|\|the docs|\[x\]/);
    expect(text).toContain('\uff20all \uff20here');
    expect(text).toContain('(\uff20admin)');
    expect(text.startsWith('*\uff20here* pushed to')).toBe(true);
  });

  it('replaces control characters, NUL included, so that none reaches the stored message', () => {
    const commits = one('a\u0000b\u001bc\u007f', 'n\u0000me');
    const text = renderMessage(summarize({ ...base, commits, total_commits_count: 1 }));
    expect(text).toContain('a\ufffdb\ufffdc\ufffd');
    expect(text).toContain('(n\ufffdme)');
    expect(text.replace(/\n/g, '')).not.toMatch(CONTROL_CHARACTER);
  });

  it('drops a project link whose URL could break out of the link', () => {
    const project = { ...base.project, web_url: 'http://example.com/a) [click](http://evil.example' };
    const text = renderMessage(summarize({ ...base, project }));
    expect(text).not.toContain('evil');
    expect(text).toContain('of mike/diaspora:');
  });

  // Any text at all in every user-controlled field: outside code spans, the message has exactly the
  // markup of a message built from harmless text, and as many code spans, so user text can neither
  // format, link, mention nor break a span.
  it('property: user text never adds markup, mentions or lines to the message', () => {
    // A parenthesis alone is text: it is markup only as the second half of a [text](url) link, and
    // user text can never supply the `](` that joins the two halves, so that pair is what counts.
    const MARKUP = ['`', '*', '_', '~', '[', ']', '](', '<', '>', '|', '@', '\n'];
    // Inside a code span nothing is markup, so only its delimiters count.
    const histogram = (text: string) => {
      const outside = text.replace(/`[^`\n]*`/g, '``');
      return MARKUP.map((c) => outside.split(c).length - 1);
    };
    const nasty = fc.string({
      unit: fc.oneof(
        fc.constantFrom(
          '`',
          '*',
          '_',
          '~',
          '[',
          ']',
          '(',
          ')',
          '<',
          '>',
          '|',
          '@',
          '\n',
          '\r',
          '\t',
          '\u0000',
          '\u001b',
          '\ud800',
          ' ',
        ),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      ),
      maxLength: 80,
    });
    // Git refuses control characters in ref names (the webhook answers 400); anything else is allowed.
    const refText = nasty.map((t) => t.replace(new RegExp(C0_OR_DEL.source, 'g'), ''));
    const build = (ref: string, pusher: string, titles: string[], authors: string[]) =>
      renderMessage(
        summarize({
          ...base,
          ref: `refs/heads/${ref}`,
          user_username: pusher,
          commits: titles.map((title, i) => ({
            id: i.toString(16).padStart(40, 'f'),
            title,
            author: { name: authors[i] ?? 'x' },
          })),
          total_commits_count: titles.length,
        }),
      );
    fc.assert(
      fc.property(
        refText,
        nasty,
        fc.array(nasty, { minLength: 1, maxLength: 12 }),
        fc.array(nasty, { maxLength: 12 }),
        (ref, pusher, titles, authors) => {
          // Blank text (whitespace only) shows as nothing, and a blank author as no parentheses.
          const same = (t: string) => (/^\s*$/.test(t) ? t : 'x');
          const harmless = build('x', same(pusher), titles.map(same), authors.map(same));
          const text = build(ref, pusher, titles, authors);
          expect(histogram(text)).toEqual(histogram(harmless));
          expect(text.replace(/\n/g, '')).not.toMatch(CONTROL_CHARACTER);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000); // a bound for slow machines, not a speed target
});

describe('recipientFor', () => {
  const event = load('push.json');
  const rules = { defaultRecipient: 'ops', byProject: {}, byAuthorEmail: {} };

  it('uses the default recipient', () => {
    expect(recipientFor(event, rules)).toBe('ops');
  });
  it('prefers the head commit author, then the pusher', () => {
    expect(
      recipientFor(event, {
        ...rules,
        byAuthorEmail: { 'gitlabdev@dv6700.(none)': 'dev', 'john@example.com': 'john' },
      }),
    ).toBe('dev');
    expect(recipientFor(event, { ...rules, byAuthorEmail: { 'john@example.com': 'john' } })).toBe('john');
  });
  it('prefers a project override over everything', () => {
    expect(
      recipientFor(event, {
        ...rules,
        byProject: { 'mike/diaspora': 'diaspora-team' },
        byAuthorEmail: { 'john@example.com': 'john' },
      }),
    ).toBe('diaspora-team');
  });
});
