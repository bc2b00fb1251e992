/**
 * The pair policy's rules as plain code, for the pair workflow's `setPolicy`. The config file states the same rules as
 * a zod schema (`policySchema`), but zod cannot be in workflow code cheaply: the SDK evaluates a workflow's modules
 * again for every workflow it creates or brings back into its cache, and zod with the config schema was over a
 * quarter of a worker's workflow thread in a region outage (CPU profile, bench:failover). test/policy.check.test.ts
 * holds the two to the same answers.
 */
import type { OffPeakSpec } from './types.js';
import { validateOffPeakSpec } from './offPeak.js';

interface NumberRule {
  /** Exclusive lower bound, with its message. */
  above?: [number, string];
  atLeast?: [number, string];
  atMost?: [number, string];
  whole?: string;
}

const NUMBER_RULES: Record<string, NumberRule> = {
  thresholdPercent: { above: [0, 'must be above 0'], atMost: [100, 'must be at most 100'] },
  hysteresisPercent: { atLeast: [0, 'must be 0 or more'], atMost: [50, 'must be at most 50'] },
  cooldownMinutes: { atLeast: [0, 'must be 0 or more'] },
  shadowFraction: { atLeast: [0.1, 'must be at least 0.1'], atMost: [0.2, 'must be at most 0.2'] },
  tickSeconds: { atLeast: [1, 'must be at least 1'], atMost: [3600, 'must be at most 3600'] },
  healthCheckIntervalSeconds: { atLeast: [1, 'must be at least 1'], atMost: [600, 'must be at most 600'] },
  failuresBeforeFailover: {
    whole: 'must be a whole number',
    atLeast: [1, 'must be at least 1'],
    atMost: [20, 'must be at most 20'],
  },
  scaleBackAfterMinutes: { atLeast: [0, 'must be 0 or more'], atMost: [1440, 'must be at most 1440'] },
};
const HORIZON_RULE: NumberRule = {
  whole: 'must be whole minutes',
  above: [0, 'must be positive'],
  atMost: [1440, 'must be at most 1440'],
};
const POLICY_KEYS: readonly string[] = [
  ...Object.keys(NUMBER_RULES),
  'horizonsMinutes',
  'forecastOnly',
  'scaleOutOn',
  'offPeak',
];

function numberProblems(value: unknown, rule: NumberRule): string[] {
  if (typeof value !== 'number' || !Number.isFinite(value)) return [`must be a number (got ${JSON.stringify(value)})`];
  const problems: string[] = [];
  if (rule.whole && !Number.isInteger(value)) problems.push(rule.whole);
  if (rule.above && !(value > rule.above[0])) problems.push(rule.above[1]);
  if (rule.atLeast && !(value >= rule.atLeast[0])) problems.push(rule.atLeast[1]);
  if (rule.atMost && !(value <= rule.atMost[0])) problems.push(rule.atMost[1]);
  return problems;
}

/** `field: problem` lines for the off-peak spec: its shape, its fields, then the policy's own check of cron and zone. */
function offPeakProblems(value: unknown): string[] {
  const spec = value as Record<string, unknown> | null;
  const keys = spec && typeof spec === 'object' && !Array.isArray(spec) ? Object.keys(spec).sort().join(',') : '';
  const shapeFits =
    (spec?.kind === 'cron' && keys === 'cron,kind,timeZone') ||
    (spec?.kind === 'forecast' && keys === 'kind,windowMinutes');
  if (!shapeFits) return ['offPeak: kind must be "cron" (with cron and timeZone) or "forecast" (with windowMinutes)'];
  const fieldProblems =
    spec.kind === 'cron'
      ? [
          ...(typeof spec.cron === 'string' && spec.cron !== '' ? [] : ['offPeak.cron: must not be empty']),
          ...(typeof spec.timeZone === 'string' && spec.timeZone !== ''
            ? []
            : ['offPeak.timeZone: must be an IANA time zone, for example Europe/Paris']),
        ]
      : numberProblems(spec.windowMinutes, {
          whole: 'must be whole minutes',
          atLeast: [15, 'must be at least 15'],
          atMost: [360, 'must be at most 360'],
        }).map((m) => `offPeak.windowMinutes: ${m}`);
  return [...fieldProblems, ...validateOffPeakSpec(spec as unknown as OffPeakSpec).map((m) => `offPeak: ${m}`)];
}

/**
 * What is wrong with a whole policy, one `field: problem` a line (empty when it is valid): the rules of the config
 * file's `policy` section.
 */
export function policyProblems(policy: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const add = (field: string, messages: string[]) => problems.push(...messages.map((m) => `${field}: ${m}`));
  for (const key of Object.keys(policy)) if (!POLICY_KEYS.includes(key)) add('policy', [`unknown field "${key}"`]);
  for (const [field, rule] of Object.entries(NUMBER_RULES)) add(field, numberProblems(policy[field], rule));
  const horizons = policy.horizonsMinutes;
  if (!Array.isArray(horizons)) add('horizonsMinutes', ['must be a list of minutes']);
  else {
    if (horizons.length === 0) add('horizonsMinutes', ['must list at least one horizon']);
    horizons.forEach((h, i) => add(`horizonsMinutes.${i}`, numberProblems(h, HORIZON_RULE)));
  }
  if (typeof policy.forecastOnly !== 'boolean') add('forecastOnly', ['must be true or false']);
  if (policy.scaleOutOn !== 'upper' && policy.scaleOutOn !== 'forecast')
    add('scaleOutOn', ['must be "upper" or "forecast"']);
  problems.push(...offPeakProblems(policy.offPeak));
  // Checked once the threshold itself is valid, as the schema does, so a bad threshold is reported once.
  const threshold = policy.thresholdPercent;
  const thresholdValid = typeof threshold === 'number' && threshold > 0 && threshold <= 100;
  if (thresholdValid && !((policy.hysteresisPercent as number) < threshold))
    add('hysteresisPercent', ['must be below policy.thresholdPercent']);
  return problems;
}
