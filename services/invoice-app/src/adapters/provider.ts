// The payment provider's HTTP API, as an adapter: one call, one classified outcome. node:http with
// a keep-alive agent (fetch's stream machinery costs more CPU per call than the call itself), and a
// hard deadline per call that covers connecting, sending and reading the answer.
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PaymentOrder {
  invoiceId: string;
  /** The amount as a JSON value that serialises to an exact decimal number (see domain/money.ts). */
  value: unknown;
  currency: string;
}

/**
 * - `paid`: the provider confirmed the payment (2xx with our id).
 * - `rejected`: the provider refused it (a 4xx that is about the request): nothing was paid.
 * - `unknown`: anything else. The payment may or may not have happened (a timeout after sending,
 *   a 5xx, a reset connection), so only a retry with the same Idempotency-Key may follow.
 */
export type ProviderOutcome =
  | { kind: 'paid' }
  | { kind: 'rejected'; status: number; detail: string }
  | { kind: 'unknown'; reason: UnknownReason; detail: string; retryAfterMs?: number };

export type UnknownReason = 'timeout' | 'unreachable' | 'network' | 'provider_error' | 'protocol' | 'key_conflict';

export interface PaymentProvider {
  pay(order: PaymentOrder, idempotencyKey: string): Promise<ProviderOutcome>;
  close(): void;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export function httpProvider(options: { payUrl: URL; timeoutMs: number; maxSockets: number }): PaymentProvider {
  const { payUrl, timeoutMs } = options;
  const tls = payUrl.protocol === 'https:';
  const agent = tls
    ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets })
    : new Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const send = tls ? httpsRequest : httpRequest;

  return {
    pay(order, idempotencyKey) {
      const body = JSON.stringify({ id: order.invoiceId, value: order.value, currency: order.currency });
      return new Promise<ProviderOutcome>((resolve) => {
        let settled = false;
        let sent = false;
        const finish = (outcome: ProviderOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(outcome);
        };
        const req = send(payUrl, {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            accept: 'application/json, application/problem+json',
            'idempotency-key': idempotencyKey,
          },
        });
        const timer = setTimeout(() => {
          finish({ kind: 'unknown', reason: 'timeout', detail: `no answer within ${timeoutMs} ms` });
          req.destroy();
        }, timeoutMs);
        req.on('error', (err: NodeJS.ErrnoException) => {
          // Refused or unresolvable: the request never left, but we keep the key all the same.
          const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];
          const reason = unreachable.includes(err.code ?? '') && !sent ? 'unreachable' : 'network';
          finish({ kind: 'unknown', reason, detail: `${err.code ?? 'error'}: ${err.message}` });
        });
        req.on('finish', () => {
          sent = true;
        });
        req.on('response', (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
          });
          res.on('error', (err) => {
            finish({ kind: 'unknown', reason: 'network', detail: `answer cut off: ${err.message}` });
          });
          res.on('end', () => {
            finish(classify(res, Buffer.concat(chunks).toString('utf8'), order.invoiceId));
          });
        });
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function classify(res: IncomingMessage, text: string, invoiceId: string): ProviderOutcome {
  const status = res.statusCode ?? 0;
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
