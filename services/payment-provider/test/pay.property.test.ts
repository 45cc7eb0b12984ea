// A property over the whole body of POST /payments/pay, the provider's one write endpoint: whatever
// arrives (NUL and other controls, unpaired surrogates, huge and tiny numbers, wrong types, deep
// nesting, any content type, any Idempotency-Key), the real app on PGlite answers a 2xx or a 4xx
// problem, never a 5xx; and a 200 means the ledger holds the id exactly as it was sent.
import { openDatabase, type Database } from '@sre-platform/database';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Payments } from '../src/adapters/payments.ts';
import { inProcessProvider } from './harness.ts';

let db: Database;
let provider: ReturnType<typeof inProcessProvider>;
beforeAll(async () => {
  db = await openDatabase({});
  await new Payments(db).migrate();
  provider = inProcessProvider(db);
});
afterAll(async () => {
  await provider.service.app.close();
  await db.close();
});

/** A JSON value whose numbers are kept as source text (Raw), so that any number token can be sent. */
class Raw {
  readonly raw: string;
  constructor(raw: string) {
    this.raw = raw;
  }
}
type Node = string | Raw | boolean | null | Node[] | { [key: string]: Node };
const raw = (text: string) => new Raw(text);

function toText(node: Node): string {
  if (node === null || typeof node === 'boolean') return String(node);
  if (typeof node === 'string') return JSON.stringify(node); // unpaired surrogates become \udXXX escapes
  if (Array.isArray(node)) return `[${node.map(toText).join(',')}]`;
  if (node instanceof Raw) return node.raw;
  return `{${Object.entries(node)
    .map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`)
    .join(',')}}`;
}

// Any UTF-16 code unit, so lone surrogates and every control character are in reach.
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const nasty = fc.constantFrom('a\u0000b', '\u0000', '\ud800', 'x\udc00', '\u0085', '\u007f', '\n', '😀', 'I1', 'EUR');
const text = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.string({ unit: fc.oneof(nasty, codeUnit), maxLength: 8 }),
  nasty,
  fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129), 'EUR', 'JPY', 'KWD', 'eur', 'XYZ', 'EU'),
);
const number = fc.oneof(
  fc.double().map((d) => raw(Number.isFinite(d) ? JSON.stringify(d) : '1e999')),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((n) => raw(n.toString())),
  fc
    .tuple(fc.nat({ max: 10 ** 9 }), fc.nat({ max: 40 }), fc.integer({ min: -999_999, max: 999_999 }))
    .map(([whole, zeros, exp]) => raw(`${whole}.${'0'.repeat(zeros)}1e${exp}`)),
  fc
    .constantFrom('1e400', '-1e400', '1e-400', '0', '-0', '12.15', '12.151', '0.001', '1e20', '9223372036854775807')
    .map(raw),
);
const { node: anyValue } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(text, tie('node'), { maxKeys: 3 }),
  ),
}));
const field = (likely: fc.Arbitrary<Node>) =>
  fc.option(fc.oneof({ weight: 3, arbitrary: likely }, anyValue), { nil: undefined });
const deep = fc.nat({ max: 20_000 }).map((n) => raw(`${'['.repeat(n)}${']'.repeat(n)}`));

const bodyText = fc.oneof(
  // Nearly valid: a real currency and amount, so that many reach the ledger, with any id.
  fc
    .record({
      id: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }), text),
      value: fc.integer({ min: 1, max: 10 ** 9 }).map((n) => raw((n / 100).toFixed(2))),
      currency: fc.constantFrom('EUR', 'DKK', 'KWD', 'JPY'),
    })
    .map(toText),
  // The contract's shape, each member well-typed or not, present or not, plus extras.
  fc
    .record({
      id: field(text),
      value: field(number),
      currency: field(text),
      extra: fc.option(fc.oneof(anyValue, deep), { nil: undefined }),
    })
    .map(({ extra, ...members }) => {
      const body: Record<string, Node> = {};
      for (const [k, v] of Object.entries(members)) if (v !== undefined) body[k] = v;
      if (extra !== undefined) body['note'] = extra;
      return toText(body);
    }),
  anyValue.map(toText),
  deep.map(toText),
  fc.string({ unit: codeUnit, maxLength: 64 }), // not JSON at all
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/x-www-form-urlencoded',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/problem+json',
  ),
  { nil: undefined },
);
// What an HTTP client can put in a header value; the key's own rule is the schema's to enforce.
const idempotencyKey = fc.option(
  fc.oneof(
    fc.uuid(),
    fc.string({ unit: 'binary-ascii', maxLength: 300 }).filter((k) => /^[\t\x20-\x7e]*$/.test(k)),
  ),
  { nil: undefined },
);

describe('POST /payments/pay, any body', () => {
  it('never answers 5xx; errors are problems with the original error member; a 200 stored the id as sent', async () => {
    let paid = 0;
    await fc.assert(
      fc.asyncProperty(bodyText, contentType, idempotencyKey, async (payload, type, key) => {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (key !== undefined) headers['idempotency-key'] = key;
        const res = await provider.pay(payload, headers);
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          const problem = res.json<{ detail: string; error: string }>();
          expect(problem.error).toBe(problem.detail);
          return;
        }
        expect(res.statusCode).toBe(200);
        const sent = (JSON.parse(payload) as { id: string }).id;
        expect(res.json()).toEqual({ id: sent });
        const rows = await db.query<{ n: number }>(
          'select count(*)::int as n from provider_payments where invoice_id = $1',
          [sent],
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
        paid++;
      }),
      { numRuns: 400 },
    );
    // The generator reaches the ledger too, not only the 400s.
    expect(paid).toBeGreaterThan(0);
  }, 300_000);
});
