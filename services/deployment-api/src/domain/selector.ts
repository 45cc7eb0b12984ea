// Kubernetes label selectors, parsed once and matched against label maps: equality (a=b, a==b),
// inequality (a!=b), set membership (a in (x,y), a notin (x,y)) and existence (a, !a), joined by
// commas (AND). Invalid syntax throws SelectorError with what was wrong.

export class SelectorError extends Error {
  override name = 'SelectorError';
}

type Requirement =
  { op: 'in' | 'notin'; key: string; values: Set<string> } | { op: 'exists' | 'notexists'; key: string };

export type Selector = (labels: Record<string, string> | undefined) => boolean;

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function key(raw: string, whole: string): string {
  const k = raw.trim();
  if (!KEY.test(k)) throw new SelectorError(`invalid label key "${k}" in selector "${whole}"`);
  return k;
}

function value(raw: string, whole: string): string {
  const v = raw.trim();
  if (!VALUE.test(v)) throw new SelectorError(`invalid label value "${v}" in selector "${whole}"`);
  return v;
}

/** Splits on commas that are not inside parentheses. */
function clauses(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (depth < 0) throw new SelectorError(`unbalanced parentheses in selector "${selector}"`);
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw new SelectorError(`unbalanced parentheses in selector "${selector}"`);
  out.push(current);
  return out;
}

export function parseSelector(selector: string): Selector {
  if (selector.trim() === '') return () => true;
  if (selector.length > 4096) throw new SelectorError('selector longer than 4096 characters');
  const requirements: Requirement[] = clauses(selector).map((clause) => {
    const c = clause.trim();
    if (c === '') throw new SelectorError(`empty requirement in selector "${selector}"`);
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(c);
    if (set) {
      const values = set[3]!.split(',').map((v) => value(v, selector));
      if (values.length === 0 || values.some((v) => v === '')) {
        throw new SelectorError(`empty value list in selector "${selector}"`);
      }
      return { op: set[2] as 'in' | 'notin', key: key(set[1]!, selector), values: new Set(values) };
    }
    const neq = /^([^=!]+)!=(.*)$/.exec(c);
    if (neq) return { op: 'notin', key: key(neq[1]!, selector), values: new Set([value(neq[2]!, selector)]) };
    const eq = /^([^=!]+)==?(.*)$/.exec(c);
    if (eq) return { op: 'in', key: key(eq[1]!, selector), values: new Set([value(eq[2]!, selector)]) };
    if (c.startsWith('!')) return { op: 'notexists', key: key(c.slice(1), selector) };
    return { op: 'exists', key: key(c, selector) };
  });
  return (labels) => {
    const l = labels ?? {};
    return requirements.every((r) => {
      const has = Object.hasOwn(l, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case 'notexists':
          return !has;
        case 'in':
          return has && r.values.has(l[r.key]!);
        case 'notin':
          return !has || !r.values.has(l[r.key]!);
      }
    });
  };
}
