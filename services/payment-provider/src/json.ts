// The service's application/json parser. Fastify's default parser would give us `value` as a
// double only; this one also keeps the exact source text of the top-level "value" number (ES2025
// JSON.parse source access: the reviver's third argument), so that money is read from the digits
// the client sent. It keeps Fastify's defaults otherwise: malformed JSON and prototype-poisoning
// keys are a 400. An empty body parses to undefined, which the route turns into its own 400.
import { HttpProblem, type ServiceApp } from '@sre-platform/service-kit';

const sources = new WeakMap<object, string>();

/** The exact source text of body.value when it was a JSON number. */
export function valueSource(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? sources.get(body) : undefined;
}

type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;

export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  const seen = new Map<object, string>();
  const reviver: Reviver = function (key, value, context) {
    if (key === '__proto__' || key === 'constructor') throw new HttpProblem(400, `forbidden property name "${key}"`);
    if (key === 'value' && typeof value === 'number' && context.source !== undefined && typeof this === 'object') {
      seen.set(this as object, context.source);
    }
    return value;
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]);
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    throw new HttpProblem(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const source = seen.get(parsed);
    if (source !== undefined) sources.set(parsed, source);
  }
  return parsed;
}

export function registerJsonParser(app: ServiceApp): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
