import { describe, expect, it } from 'vitest';

import { currencyExponent, isKnownCurrency } from '../src/index.ts';

describe('currencyExponent', () => {
  it('is 2 by default and follows ISO 4217 where it differs', () => {
    expect(['EUR', 'GBP', 'DKK', 'USD'].map(currencyExponent)).toEqual([2, 2, 2, 2]);
    expect(['JPY', 'KRW', 'ISK'].map(currencyExponent)).toEqual([0, 0, 0]);
    expect(['KWD', 'BHD', 'TND'].map(currencyExponent)).toEqual([3, 3, 3]);
    expect(currencyExponent('CLF')).toBe(4);
  });
});

describe('isKnownCurrency', () => {
  it('accepts ISO 4217 codes this runtime knows, and nothing else', () => {
    for (const c of ['EUR', 'GBP', 'DKK', 'JPY', 'USD']) expect(isKnownCurrency(c), c).toBe(true);
    for (const c of ['XYZ', 'eur', 'EURO', '', 'E1R']) expect(isKnownCurrency(c), c).toBe(false);
  });
});
