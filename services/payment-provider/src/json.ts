// The service's body parser. Fastify's default JSON parser would give us `value` as a double only;
// this one also keeps the exact source text of the top-level "value" number (ES2025 JSON.parse
// source access: the reviver's third argument), so that money is read from the digits the client
// sent. Like the original Go handler (it read the raw body and ran json.Unmarshal on it), it reads
// every body as JSON whatever its content type, so `curl -d` (a form content type) works. It keeps
// Fastify's defaults otherwise: malformed JSON and prototype-poisoning keys are a 400. An empty body
// parses to undefined, which the route turns into its own 400.
import { HttpProblem, type ServiceApp } from '@sre-platform/service-kit';

/** Deeper than this, a body is refused before it is parsed (the original's bodies are flat). */
export const MAX_DEPTH = 64;
const JSON_HINT = 'send a JSON object such as {"id":"I1","value":12.15,"currency":"EUR"}';

const sources = new WeakMap<object, string>();

/** The exact source text of body.value when it was a JSON number. */
export function valueSource(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? sources.get(body) : undefined;
}

type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;

/** How deeply arrays and objects nest in a JSON text (strings skipped); stops counting past `limit`. */
export function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character; a quote ends the string.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  if (nestingDepth(text, MAX_DEPTH) > MAX_DEPTH) {
    throw new HttpProblem(400, `body nests arrays or objects more than ${MAX_DEPTH} deep; ${JSON_HINT}`);
  }
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
    throw new HttpProblem(400, `body is not valid JSON (${(err as Error).message}); ${JSON_HINT}`);
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const source = seen.get(parsed);
    if (source !== undefined) sources.set(parsed, source);
    // A number JSON allows but a double cannot hold (1e400 reads as Infinity).
    const { value } = parsed as { value?: unknown };
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new HttpProblem(400, `value ${source ?? String(value)} is out of range`);
    }
  }
  return parsed;
}

/** Every body, whatever its content type (or none), is read as UTF-8 JSON. */
export function registerJsonParser(app: ServiceApp): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
