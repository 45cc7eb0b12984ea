// Routes: POST /payments/pay, the wire contract of the original Go service, plus Idempotency-Key.
import { setTimeout as sleep } from 'node:timers/promises';

import {
  HttpProblem,
  PlainText,
  sharedPlugin,
  Type,
  type ServiceApp,
  type ServicePlugin,
} from '@sre-platform/service-kit';

import type { Config } from './config.ts';
import { currencyExponent, isKnownCurrency, toMinorUnits } from '@sre-platform/currency';
import { registerJsonParser, valueSource } from './json.ts';
import type { Payments } from './adapters/payments.ts';
import type { PaymentMetrics } from './metrics.ts';

export const PAY_PATH = '/payments/pay';
export const IDEMPOTENCY_CONFLICT = 'urn:sre-platform:problem:idempotency-key-reused';

// Unknown properties are ignored, as the original did (forward compatible clients). The text fields
// reach the ledger, so they refuse control characters (PostgreSQL refuses U+0000) and unpaired
// surrogates (not encodable as UTF-8: the stored id would differ from the one echoed).
const PayBody = Type.Object({
  id: PlainText({ minLength: 1, maxLength: 128 }),
  value: Type.Number({ exclusiveMinimum: 0 }),
  currency: PlainText({ minLength: 1, maxLength: 3 }),
});
const PayHeaders = Type.Object({
  // Printable ASCII, as the IETF Idempotency-Key draft and every payment API expect.
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' })),
});

export type Faults = Pick<Config, 'FAULT_DELAY_MS' | 'FAULT_STATUS' | 'FAULT_RATE' | 'faultIds'>;

function isProblem(payload: unknown): payload is Record<string, unknown> {
  return (
    typeof payload === 'object' && payload !== null && typeof (payload as { status?: unknown }).status === 'number'
  );
}

interface RouteDeps {
  payments: Payments;
  faults: Faults;
  metrics: PaymentMetrics;
}

/**
 * The original answered every error as {"error": message}: each problem document carries that
 * member too (an RFC 9457 extension member), so a client of the original reads it unchanged. Every
 * route's, the kit's 404 included: so this plugin is not encapsulated (fastify-plugin).
 */
const errorMember = sharedPlugin(
  (app: ServiceApp, _options, done) => {
    app.addHook('preSerialization', (_request, reply, payload, next) => {
      if (reply.statusCode >= 400 && isProblem(payload) && payload['error'] === undefined) {
        next(null, { ...payload, error: payload['detail'] ?? payload['title'] });
        return;
      }
      next(null, payload);
    });
    done();
  },
  { name: 'payment-provider-error-member' },
);

function routes(app: ServiceApp, deps: RouteDeps): void {
  const { payments, faults, metrics } = deps;
  registerJsonParser(app);

  app.post(
    PAY_PATH,
    {
      schema: { body: PayBody, headers: PayHeaders },
      // Before schema validation, so that an empty body gets its own message, not "must be object".
      preValidation: (request, _reply, done) => {
        if (request.body === undefined || request.body === null) {
          done(new HttpProblem(400, 'a request body is required: {"id": string, "value": number, "currency": string}'));
          return;
        }
        done();
      },
    },
    async (request, reply) => {
      const { id, currency } = request.body;
      if (!isKnownCurrency(currency)) {
        throw new HttpProblem(400, `currency must be an ISO 4217 code such as EUR (got "${currency}")`);
      }
      // The exact digits the client sent; the double is only used by the schema's > 0 check.
      const amount = toMinorUnits(valueSource(request.body) ?? String(request.body.value), currency);
      if (!amount.ok) throw new HttpProblem(400, `value ${amount.reason}`);
      if (amount.minor <= 0n) {
        throw new HttpProblem(
          400,
          `value must be at least one minor unit (10^-${currencyExponent(currency)} ${currency})`,
        );
      }

      const faulty = faults.faultIds === undefined || faults.faultIds.has(id);
      if (faulty && faults.FAULT_STATUS !== undefined && Math.random() < faults.FAULT_RATE) {
        metrics.payments.inc({ result: 'fault' });
        throw new HttpProblem(faults.FAULT_STATUS, `injected fault: FAULT_STATUS=${faults.FAULT_STATUS} for ${id}`);
      }

      const key = request.headers['idempotency-key'];
      const outcome = await payments.pay({ invoiceId: id, amountMinor: amount.minor, currency }, key);
      if (outcome.kind === 'conflict') {
        metrics.payments.inc({ result: 'conflict' });
        throw new HttpProblem(422, 'this Idempotency-Key was used for a different payment request', {
          type: IDEMPOTENCY_CONFLICT,
          title: 'Idempotency-Key reused',
        });
      }
      metrics.payments.inc({ result: outcome.kind });
      request.log.info({ invoiceId: id, paymentId: outcome.paymentId, result: outcome.kind }, 'payment');
      if (faulty && faults.FAULT_DELAY_MS > 0) await sleep(faults.FAULT_DELAY_MS);
      if (outcome.kind === 'replayed') void reply.header('idempotent-replayed', 'true');
      return { id };
    },
  );
}

/**
 * The error member for every answer, then the routes as one encapsulated Fastify plugin: the
 * any-content-type JSON parser (json.ts) applies to PAY_PATH only; the kit's probes and anything
 * else keep Fastify's parsers.
 */
export function registerRoutes(app: ServiceApp, deps: RouteDeps): void {
  void app.register(errorMember);
  const plugin: ServicePlugin = (scope, _options, done) => {
    routes(scope, deps);
    done();
  };
  void app.register(plugin);
}
