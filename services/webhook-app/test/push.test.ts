import { readContract } from '@sre-platform/contracts';
import { Value } from '@sre-platform/service-kit';
import { describe, expect, it } from 'vitest';

import {
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

  it('keeps commit titles from breaking the markdown', () => {
    const commits = [{ id: 'd'.repeat(40), title: 'fix `rm -rf` *now*\nsecond line' }];
    const text = renderMessage(summarize({ ...base, commits, total_commits_count: 1 }));
    expect(text).toContain("- `dddddddd` fix 'rm -rf' 'now' second line");
    expect(text).toContain('1 commit,');
  });
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
