// Currency facts the services share: the ISO 4217 minor unit of each currency (how many digits
// follow the decimal point) and whether a code is a currency at all. The exact conversions between
// decimal text and minor units that use it are in money.ts.

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

/** Digits after the decimal point in the currency's minor unit (EUR 2, JPY 0, KWD 3). */
export function currencyExponent(code: string): number {
  return EXPONENT_EXCEPTIONS[code] ?? 2;
}

// The currencies this runtime's ICU knows (ISO 4217, current and recent).
const KNOWN = new Set(Intl.supportedValuesOf('currency'));

export function isKnownCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && KNOWN.has(code);
}
