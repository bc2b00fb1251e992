// The demo's lead time: from the surge pair's scale-out to the first step its whole demand crossed the threshold.
import { describe, expect, it } from 'vitest';
import { scaleOutLead } from '../src/demo/leadTime.js';
import type { UtilisationWindow } from '../src/metrics/types.js';

const START = Date.parse('2026-03-02T12:00:00Z');
const window = (values: (number | null)[]): UtilisationWindow => ({
  hostId: 'us-east-1',
  resource: 'cpu',
  start: new Date(START).toISOString(),
  stepSeconds: 300,
  values,
  issues: [],
});
const at = (step: number): number => START + step * 300_000;
const options = { thresholdPercent: 80, lookbackMinutes: 30, lookaheadMinutes: 60 };

describe('scaleOutLead', () => {
  it('counts the minutes from the scale-out to the first step above the threshold', () => {
    const demand = window([60, 65, 70, 74, 78, 79, 82, 88, 90]);
    expect(scaleOutLead(demand, at(2), options)).toEqual({ kind: 'crossed', leadMinutes: 20, crossedAt: at(6) });
  });

  it('is negative when the demand had crossed before the scale-out', () => {
    const demand = window([70, 78, 83, 86, 88, 90]);
    expect(scaleOutLead(demand, at(4), options)).toMatchObject({ kind: 'crossed', leadMinutes: -10 });
  });

  it('waits for data, and says when the demand stayed under the threshold for the whole lookahead', () => {
    const rising = window([60, 65, 70, null, 75]);
    expect(scaleOutLead(rising, at(2), options)).toEqual({ kind: 'pending' });
    const flat = window(Array.from({ length: 16 }, () => 72));
    expect(scaleOutLead(flat, at(2), options)).toEqual({ kind: 'no-crossing', withinMinutes: 60 });
  });
});
