// The payment provider's HTTP API, as an adapter: one call, one classified outcome. undici's
// keep-alive pool (the project's HTTP client; fetch's stream machinery costs more CPU per call than
// the call itself), and a hard deadline per call that covers connecting, sending and reading the answer.
import { Agent, type Dispatcher } from 'undici';

export interface PaymentOrder {
  invoiceId: string;
  /** The amount as a JSON value that serialises to an exact decimal number (see @sre-platform/currency's money.ts). */
  value: unknown;
  currency: string;
}

/**
 * - `paid`: the provider confirmed the payment (2xx with our id).
 * - `rejected`: the provider refused it (a 4xx that is about the request): nothing was paid.
 * - `unknown`: anything else. The payment may or may not have happened (a timeout after sending,
 *   a 5xx, a reset connection), so only a retry with the same Idempotency-Key may follow. Its reason
 *   `unreachable` is the one exception that is certain: nothing of the request left this host (the
 *   connection was refused, never made within the deadline, or broken before the request was
 *   written), so the provider cannot have paid; the key is kept all the same.
 */
export type ProviderOutcome =
  | { kind: 'paid' }
  | { kind: 'rejected'; status: number; detail: string }
  | { kind: 'unknown'; reason: UnknownReason; detail: string; retryAfterMs?: number };

export type UnknownReason = 'timeout' | 'unreachable' | 'network' | 'provider_error' | 'protocol' | 'key_conflict';

export interface PaymentProvider {
  pay(order: PaymentOrder, idempotencyKey: string): Promise<ProviderOutcome>;
  /** Closes the connection pool once the calls in flight have ended. */
  close(): Promise<void>;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export function httpProvider(options: { payUrl: URL; timeoutMs: number; maxSockets: number }): PaymentProvider {
  const { payUrl, timeoutMs } = options;
  // A connection attempt is bounded like the call, so that closing the pool never waits on one.
  const dispatcher = new Agent({ connections: options.maxSockets, connect: { timeout: timeoutMs } });
  const origin = payUrl.origin;
  const path = `${payUrl.pathname}${payUrl.search}`;

  return {
    async pay(order, idempotencyKey) {
      const body = JSON.stringify({ id: order.invoiceId, value: order.value, currency: order.currency });
      const deadline = new AbortController();
      const timer = setTimeout(() => {
        deadline.abort();
      }, timeoutMs);
      // Whether undici wrote this request to a socket: until then, nothing of it left this host,
      // whatever the error (refused, no connection before the deadline, reset while connecting).
      let written = false;
      const client = dispatcher.compose(
        (dispatch) => (opts, handler) =>
          dispatch(
            opts,
            onceWritten(handler, () => {
              written = true;
            }),
          ),
      );
      try {
        const res = await client.request({
          origin,
          path,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, application/problem+json',
            'idempotency-key': idempotencyKey,
          },
          body,
          signal: deadline.signal,
        });
        let text: string;
        try {
          text = await readBounded(res.body);
        } catch (err) {
          if (deadline.signal.aborted) throw err;
          return { kind: 'unknown', reason: 'network', detail: `answer cut off: ${(err as Error).message}` };
        }
        return classify(res, text, order.invoiceId);
      } catch (err) {
        const given = (err as { code?: unknown }).code;
        const said = `${typeof given === 'string' ? given : 'error'}: ${(err as Error).message}`;
        if (!written) {
          const detail = deadline.signal.aborted ? `no connection within ${timeoutMs} ms` : said;
          return { kind: 'unknown', reason: 'unreachable', detail: `not sent: ${detail}` };
        }
        // Written: the provider may have received it, and paid.
        if (deadline.signal.aborted)
          return { kind: 'unknown', reason: 'timeout', detail: `no answer within ${timeoutMs} ms` };
        return { kind: 'unknown', reason: 'network', detail: `${said} (after the request was sent)` };
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      return dispatcher.close();
    },
  };
}

/** `handler`, also calling `written` once undici has written the request (headers and body) to a socket. */
function onceWritten(handler: Dispatcher.DispatchHandler, written: () => void): Dispatcher.DispatchHandler {
  return {
    onRequestStart: (controller, context: unknown) => handler.onRequestStart?.(controller, context),
    onRequestUpgrade: (controller, status, headers, socket) =>
      handler.onRequestUpgrade?.(controller, status, headers, socket),
    onResponseStart: (controller, status, headers, message) =>
      handler.onResponseStart?.(controller, status, headers, message),
    onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
    onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
    onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    onRequestSent: () => {
      written();
      handler.onRequestSent?.();
    },
  };
}

/** The answer's text, of which at most MAX_ANSWER_BYTES are kept; the rest is read and dropped. */
async function readBounded(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length <= MAX_ANSWER_BYTES) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function classify(res: Dispatcher.ResponseData, text: string, invoiceId: string): ProviderOutcome {
  const status = res.statusCode;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const detail = describe(status, json, text);
  if (status >= 200 && status < 300) {
    if (typeof json === 'object' && json !== null && (json as { id?: unknown }).id === invoiceId)
      return { kind: 'paid' };
    // A 2xx we cannot read is not a confirmation; the retry with the same key will tell.
    return { kind: 'unknown', reason: 'protocol', detail: `${status} without {"id": "${invoiceId}"}` };
  }
  // 422 from our provider means the key was used for a different request: never drop that key.
  if (status === 422) return { kind: 'unknown', reason: 'key_conflict', detail };
  // Retryable by HTTP's own definitions: timeout, conflict (in flight), too early, rate limited, 5xx.
  if (status === 408 || status === 409 || status === 425 || status === 429 || status >= 500) {
    const retryAfterS = Number(res.headers['retry-after']);
    return {
      kind: 'unknown',
      reason: 'provider_error',
      detail,
      ...(Number.isFinite(retryAfterS) && retryAfterS >= 0 ? { retryAfterMs: retryAfterS * 1000 } : {}),
    };
  }
  if (status >= 400 && status < 500) return { kind: 'rejected', status, detail };
  return { kind: 'unknown', reason: 'protocol', detail: `unexpected status ${status}` };
}

/** The provider's own words (problem+json detail), bounded, for the pay response and the logs. */
function describe(status: number, json: unknown, text: string): string {
  const said =
    typeof json === 'object' && json !== null
      ? ((json as { detail?: unknown; title?: unknown; error?: unknown }).detail ??
        (json as { error?: unknown }).error ??
        (json as { title?: unknown }).title)
      : text.trim();
  const words = typeof said === 'string' && said.length > 0 ? said.slice(0, 300) : '(no detail)';
  return `${status}: ${words}`;
}
