import { describe, expect, it } from 'vitest';

import {
  assess,
  diffItem,
  nameProblem,
  namespaceProblem,
  paginate,
  TokenError,
  versionOf,
} from '../src/domain/model.ts';
import { parseSelector, SelectorError } from '../src/domain/selector.ts';
import { deploymentView as view } from './fixtures.ts';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['tier in (front, back)', true],
    ['tier notin (front)', false],
    ['env', true],
    ['!env', false],
    ['!legacy', true],
    ['app=web,tier in (back)', false],
    ['app=web, env in (prod,stage), !legacy', true],
    ['missing!=x', true],
    ['missing in (x)', false],
  ])('%j matches %s', (selector, expected) => {
    expect(parseSelector(selector)(labels)).toBe(expected);
  });

  it.each(['app in (', 'app=web,', 'a b c', 'app in ()', 'Bad Key=1', 'app=bad value'])('%j is refused', (s) => {
    expect(() => parseSelector(s)).toThrow(SelectorError);
  });
});

describe('assessment and diff', () => {
  it('is in sync, drifted, in conflict or missing', () => {
    expect(assess(2, view(2), undefined).state).toBe('in_sync');
    expect(assess(2, view(5), undefined)).toEqual({ state: 'drifted', reason: 'spec.replicas is 5, desired 2' });
    expect(assess(2, view(2), 'hpa-1').state).toBe('conflict');
    expect(assess(2, undefined, undefined).state).toBe('deployment_missing');
  });

  it('lists only differences, with the signed difference', () => {
    expect(diffItem('a', 'web', 2, view(2), undefined)).toBeUndefined();
    expect(diffItem('a', 'web', 2, view(5), undefined)).toMatchObject({ spec: 5, difference: -3, state: 'drifted' });
    expect(diffItem('a', 'web', 2, undefined, undefined)).toMatchObject({
      spec: -1,
      difference: 0,
      state: 'deployment_missing',
    });
  });

  it('versions change with the generation and differ between objects of the same name', () => {
    const v = versionOf({ metadata: { generation: 3, uid: 'abcdef12-3456' } });
    expect(v).toBe('3.abcdef12');
    expect(versionOf({ metadata: { generation: 3, uid: '99999999-0000' } })).not.toBe(v);
    expect(versionOf(undefined)).toBe('');
  });
});

describe('pagination', () => {
  const items = ['a/x', 'a/y', 'b/x', 'c/z'].map((k) => ({ namespace: k.split('/')[0]!, name: k.split('/')[1]! }));
  it('walks every item once, in order', () => {
    const seen: string[] = [];
    let token = '';
    for (let i = 0; i < 10; i++) {
      const { page, next } = paginate(items, 3, token);
      seen.push(...page.map((p) => `${p.namespace}/${p.name}`));
      if (next === '') break;
      token = next;
    }
    expect(seen).toEqual(['a/x', 'a/y', 'b/x', 'c/z']);
  });

  it('survives the item at the boundary disappearing between pages', () => {
    const first = paginate(items, 2, '');
    const without = items.filter((i) => !(i.namespace === 'a' && i.name === 'y'));
    expect(paginate(without, 2, first.next).page.map((p) => p.namespace)).toEqual(['b', 'c']);
  });

  it('refuses tokens it did not issue', () => {
    expect(() => paginate(items, 2, 'garbage')).toThrow(TokenError);
  });
});

describe('names', () => {
  it('validates namespaces and names like the apiserver', () => {
    expect(namespaceProblem('team-a')).toBeUndefined();
    expect(namespaceProblem('Team_A')).toMatch(/DNS-1123 label/);
    expect(namespaceProblem('')).toBe('namespace is required');
    expect(nameProblem('web.v2')).toBeUndefined();
    expect(nameProblem('web/../x')).toMatch(/DNS-1123 subdomain/);
    expect(nameProblem('x'.repeat(254))).toMatch(/DNS-1123 subdomain/);
  });
});
