// Money, exactly. A JSON number such as 12.15 has no exact binary floating-point value, so the
// amount is never taken from the parsed double: the JSON parser hands over the number's source
// text (ES2025 JSON.parse source access, see ../json.ts) and this module turns that text into an
// integer count of the currency's minor units (1215 euro cents) with string and BigInt arithmetic
// only. No decimal library is needed for parse-and-scale; we never multiply or divide money.

/** ISO 4217 currencies whose minor unit is not 2 (the default). */
const EXPONENT_EXCEPTIONS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

// The currencies this runtime's ICU knows (ISO 4217, current and recent).
const KNOWN = new Set(Intl.supportedValuesOf('currency'));

export function isKnownCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && KNOWN.has(code);
}

/** Digits after the decimal point in the currency's minor unit (EUR 2, JPY 0, KWD 3). */
export function currencyExponent(code: string): number {
  return EXPONENT_EXCEPTIONS[code] ?? 2;
}

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
