import { describe, expect, it } from 'vitest';
import { preferredModel, rankModels, tableFor, type SelectionTable } from '../../src/forecast/registry.js';

const table: SelectionTable = {
  selected: { a: 'prophet', b: 'short_mean' },
  median: { lstm: 0.7, short_mean: 0.8, prophet: 0.5, naive: 1 },
  byHorizon: {
    '15': { selected: { a: 'naive' }, median: { short_mean: 0.6, lstm: 0.7 } },
    '60': { selected: { a: 'prophet', b: 'short_mean' }, median: { lstm: 0.7, short_mean: 0.8 } },
  },
};

describe('model selection', () => {
  it('uses the smallest horizon bucket that covers the request, else the 1-hour table', () => {
    expect(tableFor(table, 5).selected).toEqual({ a: 'naive' });
    expect(tableFor(table, 15).selected).toEqual({ a: 'naive' });
    expect(tableFor(table, 30).selected).toEqual({ a: 'prophet', b: 'short_mean' });
    expect(tableFor(table, 240)).toBe(table);
  });

  it('a series without a validated choice gets the best model that needs no per-series fit', () => {
    expect(preferredModel('a', table)).toBe('prophet');
    expect(preferredModel('unknown', table)).toBe('lstm'); // Prophet ranks first but knows no unknown series
    expect(preferredModel('unknown', tableFor(table, 15))).toBe('short_mean');
    expect(preferredModel('unknown', { selected: {}, median: {} })).toBe('lstm');
    expect(rankModels({ selected: {}, median: {} })).toEqual([
      'lstm',
      'seasonal_naive',
      'short_mean',
      'naive',
      'prophet',
    ]);
  });
});
