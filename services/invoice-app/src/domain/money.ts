// Money, exactly. Amounts are stored as an integer count of the currency's minor units (bigint
// in PostgreSQL, bigint in JavaScript) together with the currency's exponent, never as a binary
// float. On the wire `Value` stays a JSON number (12.15): its text is produced from the integer
// with string arithmetic and written verbatim with JSON.rawJSON, so no double is ever involved.

import { currencyExponent } from '@sre-platform/currency';

export { currencyExponent };

/** Minor units as decimal text: (1215n, 2) -> "12.15"; (1200n, 2) -> "12"; (5n, 3) -> "0.005". */
export function toDecimalString(minor: bigint, exponent: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Decimal text as minor units; throws when it has more decimals than the exponent allows. */
export function toMinorUnits(decimal: string, exponent: number): bigint {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(decimal);
  if (!m) throw new Error(`not a decimal amount: ${decimal}`);
  const [, sign, whole = '0', fraction = ''] = m;
  const trimmed = fraction.replace(/0+$/, '');
  if (trimmed.length > exponent) throw new Error(`${decimal} has more than ${exponent} decimal places`);
  const minor = BigInt(`${whole}${trimmed.padEnd(exponent, '0')}`);
  return sign === '-' ? -minor : minor;
}

// ES2025 (Node 21+); TypeScript's es2024 lib does not declare it yet.
const { rawJSON } = JSON as unknown as { rawJSON: (text: string) => unknown };

/** A JSON number whose text is exactly the decimal (JSON.stringify writes it verbatim). */
export function jsonDecimal(minor: bigint, exponent: number): unknown {
  return rawJSON(toDecimalString(minor, exponent));
}
