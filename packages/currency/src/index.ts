// @sre-platform/currency: ISO 4217 reference data (iso4217.ts) and exact money conversions (money.ts).
export { currencyExponent, isKnownCurrency } from './iso4217.ts';
export { jsonDecimal, toDecimalString, toMinorUnits, type MinorUnitsResult } from './money.ts';
