import { describe, expect, it } from 'vitest';

import { currencyExponent, jsonDecimal, toDecimalString, toMinorUnits } from '../src/domain/money.ts';

describe('money', () => {
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

  it('reads decimal text into minor units, refusing extra precision', () => {
    expect(toMinorUnits('12.15', 2)).toBe(1215n);
    expect(toMinorUnits('12.150', 2)).toBe(1215n);
    expect(toMinorUnits('12', 2)).toBe(1200n);
    expect(() => toMinorUnits('12.151', 2)).toThrow(/more than 2 decimal places/);
    expect(() => toMinorUnits('1e3', 2)).toThrow(/not a decimal amount/);
  });

  it('knows the exponent of the seed currencies and the exceptions', () => {
    expect(['EUR', 'GBP', 'DKK'].map(currencyExponent)).toEqual([2, 2, 2]);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
  });
});
