import { describe, expect, it } from 'vitest';
import { policySchema } from '../src/config/schema.js';
import { policyProblems } from '../src/policy/policyCheck.js';

// The pair workflow checks a policy with plain code (no zod in workflow code); the config file with the zod schema.
// Both must give one answer: the same verdict on every policy below, and the same words for a value out of range.
const valid = policySchema.parse({});

const VARIANTS: Record<string, unknown[]> = {
  thresholdPercent: [0, -1, 0.5, 80, 100, 100.1, '80', Number.NaN, null],
  hysteresisPercent: [0, -0.1, 10, 50, 50.5, 79, 80, true],
  horizonsMinutes: [[], [15], [15, 60], [0], [-5], [1440], [1441], [7.5], ['15'], 15],
  cooldownMinutes: [0, -1, 10, 1e6],
  shadowFraction: [0.1, 0.09, 0.15, 0.2, 0.21],
  tickSeconds: [1, 0.5, 15, 3600, 3601],
  healthCheckIntervalSeconds: [1, 0, 5, 600, 601],
  failuresBeforeFailover: [1, 0, 3, 2.5, 20, 21],
  scaleBackAfterMinutes: [0, -1, 30, 1440, 1441],
  forecastOnly: [true, false, 'yes', 0],
  scaleOutOn: ['upper', 'forecast', 'lower', ''],
  offPeak: [
    { kind: 'cron', cron: '0 3 * * *', timeZone: 'UTC' },
    { kind: 'cron', cron: '0 3 * * *', timeZone: 'Europe/Paris' },
    { kind: 'cron', cron: '0 3 * * *', timeZone: 'Mars/Olympus' },
    { kind: 'cron', cron: '61 3 * * *', timeZone: 'UTC' },
    { kind: 'cron', cron: '', timeZone: 'UTC' },
    { kind: 'cron', cron: '0 3 * * *', timeZone: '' },
    { kind: 'cron', cron: '0 3 * * *' },
    { kind: 'cron', cron: '0 3 * * *', timeZone: 'UTC', windowMinutes: 30 },
    { kind: 'forecast', windowMinutes: 60 },
    { kind: 'forecast', windowMinutes: 15 },
    { kind: 'forecast', windowMinutes: 14 },
    { kind: 'forecast', windowMinutes: 361 },
    { kind: 'forecast', windowMinutes: 30.5 },
    { kind: 'forecast' },
    { kind: 'weekly' },
    'nightly',
    null,
  ],
};

const zodProblems = (policy: Record<string, unknown>): string[] => {
  const parsed = policySchema.safeParse(policy);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`);
};

describe('policy rules without zod', () => {
  const cases = Object.entries(VARIANTS).flatMap(([field, values]) =>
    values.map((value) => ({ field, value, policy: { ...valid, [field]: value } })),
  );

  it.each(cases)('gives the schema verdict for $field = $value', ({ policy }) => {
    expect(policyProblems(policy).length === 0).toBe(zodProblems(policy).length === 0);
  });

  it('words a value out of range as the schema does', () => {
    const outOfRange = cases.filter(({ policy }) => zodProblems(policy).some((p) => /: must (be|list)/.test(p)));
    expect(outOfRange.length).toBeGreaterThan(20);
    for (const { policy } of outOfRange) expect(policyProblems(policy)).toEqual(zodProblems(policy));
  });

  it('refuses a field the policy does not have, and a hysteresis not below the threshold', () => {
    expect(policyProblems({ ...valid, thresholdPercnt: 70 })).toEqual(['policy: unknown field "thresholdPercnt"']);
    expect(policyProblems({ ...valid, thresholdPercent: 20, hysteresisPercent: 20 })).toEqual([
      'hysteresisPercent: must be below policy.thresholdPercent',
    ]);
    expect(policyProblems(valid)).toEqual([]);
  });
});
