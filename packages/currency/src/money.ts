// Money, exactly. An amount is an integer count of the currency's minor units (1215 euro cents), never a binary
// float: a JSON number such as 12.15 has no exact double. Amounts are read from their decimal source text (the
// services get a JSON number's text through ES2025 JSON.parse source access) and written back as exact decimal
// text, with string and BigInt arithmetic only. No decimal library is needed for parse-and-scale; nothing here
// multiplies or divides money. invoice-app and payment-provider both use this one module, so they cannot disagree
// about what 12.15 means.

import { currencyExponent } from './iso4217.ts';

const MAX_MINOR = 2n ** 63n - 1n;
const JSON_NUMBER = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

export type MinorUnitsResult = { ok: true; minor: bigint } | { ok: false; reason: string };

/**
 * A JSON number's source text (e.g. "12.15", "1.215e1", "12.150") as minor units of `currency`.
 * Fails when the text is not a JSON number, or has more significant decimals than the currency.
 */
export function toMinorUnits(source: string, currency: string): MinorUnitsResult {
  const m = JSON_NUMBER.exec(source.trim());
  if (!m) return { ok: false, reason: `${source} is not a decimal number` };
  const [, sign, whole = '0', fraction = '', exp = '0'] = m;
  if (exp.length > 6) return { ok: false, reason: `${source} is out of range` };
  // digits * 10^(scale) with scale = exponent - fraction length, then shifted to minor units.
  const digits = `${whole}${fraction}`.replace(/^0+(?=\d)/, '');
  const shift = Number(exp) - fraction.length + currencyExponent(currency);
  let minor: bigint;
  if (shift >= 0) {
    if (digits.length + shift > 30) return { ok: false, reason: `${source} is out of range` };
    minor = BigInt(digits) * 10n ** BigInt(shift);
  } else {
    const cut = -shift;
    const padded = digits.padStart(cut + 1, '0');
    const dropped = padded.slice(-cut);
    if (/[1-9]/.test(dropped)) {
      return {
        ok: false,
        reason: `${source} has more decimal places than ${currency} has (${currencyExponent(currency)})`,
      };
    }
    minor = BigInt(padded.slice(0, -cut));
  }
  // The ledger stores a PostgreSQL bigint.
  if (minor > MAX_MINOR) return { ok: false, reason: `${source} is out of range` };
  return { ok: true, minor: sign === '-' ? -minor : minor };
}

/** Minor units as decimal text: (1215n, 2) -> "12.15"; (1200n, 2) -> "12"; (5n, 3) -> "0.005". */
export function toDecimalString(minor: bigint, exponent: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

// ES2025 (Node 21+); TypeScript's es2024 lib does not declare it yet.
const { rawJSON } = JSON as unknown as { rawJSON: (text: string) => unknown };

/** A JSON number whose text is exactly the decimal (JSON.stringify writes it verbatim). */
export function jsonDecimal(minor: bigint, exponent: number): unknown {
  return rawJSON(toDecimalString(minor, exponent));
}
