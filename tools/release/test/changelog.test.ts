import { describe, expect, it } from 'vitest';

import { groupByArea, render } from '../changelog.ts';

describe('changelog', () => {
  const commits = [
    { sha: 'a1', subject: 'deployment-api: caches keep only the fields the server reads' },
    { sha: 'b2', subject: 'feat(cli)!: deployctl --version' },
    { sha: 'c3', subject: 'Fix a typo' },
    { sha: 'd4', subject: 'deployment-api: one retry-timer path in the work queue' },
    { sha: 'e5', subject: 'bootstrap, gitlab-peer: READMEs' },
  ];

  it('groups subjects by their area (or Conventional Commits type), areas sorted, "other" last', () => {
    const groups = groupByArea(commits);
    expect([...groups.keys()]).toEqual(['bootstrap, gitlab-peer', 'deployment-api', 'feat', 'other']);
    expect(groups.get('deployment-api')).toEqual([
      { sha: 'a1', text: 'caches keep only the fields the server reads' },
      { sha: 'd4', text: 'one retry-timer path in the work queue' },
    ]);
    expect(groups.get('feat')).toEqual([{ sha: 'b2', text: 'deployctl --version' }]);
    expect(groups.get('other')).toEqual([{ sha: 'c3', text: 'Fix a typo' }]);
  });

  it('renders a heading per release and per area, with the range it covers', () => {
    const text = render('1.2.0', 'v1.1.0', commits.slice(0, 1));
    expect(text).toBe(
      '# 1.2.0\n\nChanges since v1.1.0.\n\n## deployment-api\n\n- caches keep only the fields the server reads (a1)\n',
    );
  });
});
