import { describe, expect, it } from 'vitest';

import { currencyExponent, isKnownCurrency, jsonDecimal, toDecimalString, toMinorUnits } from '../src/index.ts';

const minor = (source: string, currency = 'EUR') => {
  const r = toMinorUnits(source, currency);
  return r.ok ? r.minor : r.reason;
};

describe('toMinorUnits', () => {
  it('reads the digits, not a double: 12.15 EUR is 1215 cents', () => {
    expect(minor('12.15')).toBe(1215n);
    expect(minor('10.25', 'GBP')).toBe(1025n);
    expect(minor('66.13', 'DKK')).toBe(6613n);
    // 0.1 + 0.2 style traps: values whose double is not the decimal.
    expect(minor('0.29')).toBe(29n);
    expect(minor('1.005')).toMatch(/more decimal places than EUR has \(2\)/);
  });

  it('accepts every spelling of the same amount', () => {
    for (const s of ['12.15', '12.150', '1.215e1', '1215E-2', '0.1215e+2']) expect(minor(s), s).toBe(1215n);
    expect(minor('12')).toBe(1200n);
    expect(minor('0')).toBe(0n);
    expect(minor('-3.5')).toBe(-350n);
  });

  it('keeps precision beyond a double (17+ significant digits)', () => {
    expect(minor('90071992547409.93')).toBe(9007199254740993n);
    expect(minor('1234567890123456.78')).toBe(123456789012345678n);
  });

  it('uses the currency exponent: JPY has none, KWD three', () => {
    expect(minor('1500', 'JPY')).toBe(1500n);
    expect(minor('15.5', 'JPY')).toMatch(/more decimal places than JPY has \(0\)/);
    expect(minor('1.234', 'KWD')).toBe(1234n);
    expect(currencyExponent('EUR')).toBe(2);
  });

  it('refuses what is not a number, or absurdly large', () => {
    expect(minor('12,15')).toMatch(/not a decimal number/);
    expect(minor('NaN')).toMatch(/not a decimal number/);
    expect(minor('1e999999999')).toMatch(/out of range/);
    expect(minor('1e40')).toMatch(/out of range/);
    // Up to a PostgreSQL bigint of minor units, and not one more.
    expect(minor('92233720368547758.07')).toBe(9223372036854775807n);
    expect(minor('92233720368547758.08')).toMatch(/out of range/);
    expect(minor('1e20')).toMatch(/out of range/);
  });
});

describe('isKnownCurrency', () => {
  it('knows ISO 4217 codes and nothing else', () => {
    for (const c of ['EUR', 'GBP', 'DKK', 'JPY', 'USD']) expect(isKnownCurrency(c), c).toBe(true);
    for (const c of ['XYZ', 'eur', 'EURO', '', 'E1R']) expect(isKnownCurrency(c), c).toBe(false);
  });
});

describe('toDecimalString and jsonDecimal', () => {
  it('writes minor units as the shortest exact decimal', () => {
    expect(toDecimalString(1215n, 2)).toBe('12.15');
    expect(toDecimalString(1200n, 2)).toBe('12');
    expect(toDecimalString(1210n, 2)).toBe('12.1');
    expect(toDecimalString(5n, 2)).toBe('0.05');
    expect(toDecimalString(5n, 3)).toBe('0.005');
    expect(toDecimalString(1500n, 0)).toBe('1500');
    expect(toDecimalString(-1215n, 2)).toBe('-12.15');
  });

  it('puts the exact digits into JSON, even beyond what a double can hold', () => {
    expect(JSON.stringify({ Value: jsonDecimal(1215n, 2) })).toBe('{"Value":12.15}');
    expect(JSON.stringify({ Value: jsonDecimal(9007199254740993n, 2) })).toBe('{"Value":90071992547409.93}');
    // ...which JSON.parse reads back as the nearest double, the best any JSON client can do.
    expect(JSON.parse(JSON.stringify([jsonDecimal(6613n, 2)]))).toEqual([66.13]);
  });
});
