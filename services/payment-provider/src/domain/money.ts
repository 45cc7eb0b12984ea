// Money, exactly. A JSON number such as 12.15 has no exact binary floating-point value, so the
// amount is never taken from the parsed double: the JSON parser hands over the number's source
// text (ES2025 JSON.parse source access, see ../json.ts) and this module turns that text into an
// integer count of the currency's minor units (1215 euro cents) with string and BigInt arithmetic
// only. No decimal library is needed for parse-and-scale; we never multiply or divide money.

import { currencyExponent, isKnownCurrency } from '@sre-platform/currency';

export { currencyExponent, isKnownCurrency };

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
