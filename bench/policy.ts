/**
 * bench:policy — trace-driven comparison of scaling strategies, without services. Not a test.
 *
 * Every trace is one host pair's demand at 5-minute steps, in percent of one primary's capacity. Six strategies run
 * over the same traces with the same capacity model:
 *  understudy      the pure `decideScaling` the pair workflow calls on every tick, fed the way `hostPair.tick()` feeds
 *                  it (memory carried tick to tick, movedToShadow updated when an action executes, the forecast
 *                  summary observePair makes, by the same code), forecasting with the worker's OnnxForecaster over
 *                  models retrained walk-forward (bench/walkForward.ts: nothing after a decision reaches its model);
 *  understudyBaselines  the same forecaster with no learned model: the TypeScript baselines it falls back on;
 *  reactiveShadow  the same shadows and policy fed the current utilisation as its "forecast": everything but the
 *                  forecast, so the difference to understudy is what prediction buys;
 *  reactiveBoot    threshold scaling on current utilisation with a new host and a boot delay (HPA + cluster
 *                  autoscaler, or AWS target tracking);
 *  static          a fixed capacity sized with hindsight so the trace's 95th percentile stays under the threshold;
 *  oracle          the understudy policy fed the true future peak over each horizon: the limit of forecasting.
 * Traces are classed `seasonal` or `irregular` on their first half (bench/policyMetrics.ts, classifyTrace).
 *
 * Usage: npm run bench:policy [-- --json] [-- --traces DIR] [-- --plot DIR] [-- --retrain-days N] [-- --epochs N]
 * (--traces: a folder of timestamp,value CSVs instead of the repository's NAB series and the synthetic fleets;
 * --plot: one SVG per trace into DIR; --retrain-days and --epochs: the walk-forward schedule, 1 and 12 by default)
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.js';
import { NAB_DIR } from '../src/stack/paths.js';
import { decideScaling } from '../src/policy/scaling.js';
import type {
  Capacity,
  ForecastSummary,
  HostData,
  ScalingMemory,
  ScalingPolicy,
  WorkloadData,
} from '../src/policy/types.js';
import {
  classifyTrace,
  crossingStats,
  quantile,
  type CrossingStats,
  type TraceClass,
  type TraceClassification,
} from './policyMetrics.js';
import { writeTracePlot, type StrategyTimeline, type TracePlotInput } from '../src/plot/tracePlot.js';
import { STEPS_PER_DAY, loadTraceFolder, syntheticTraces, type SkippedTrace, type Trace } from './traces.js';
import { primaryShareOf } from '../src/forecast/pairForecast.js';
import { forecastTrace, forecasterAt, prepareWalkForward, seriesIdOf, type StepForecast } from './walkForward.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    traces: { type: 'string' },
    plot: { type: 'string' },
    'retrain-days': { type: 'string', default: '1' },
    epochs: { type: 'string', default: '12' },
  },
});

const NAB_CLOUDWATCH_DIR = join(NAB_DIR, 'realAWSCloudwatch');
const STEP_MINUTES = 5;
const STEP_MS = STEP_MINUTES * 60_000;
/** The pair workflow reads two days of history per observation (HISTORY_MINUTES in workflows/hostPair.ts). */
const HISTORY_STEPS = 2 * STEPS_PER_DAY;
const OVERLOAD_PERCENT = 90;

/** The default policy: what a pair runs with when its config says nothing. */
const POLICY: ScalingPolicy = configSchema.parse({}).policy;
const MAX_HORIZON_STEPS = Math.max(...POLICY.horizonsMinutes) / STEP_MINUTES;

/**
 * Reactive boot delay, in steps. 5 minutes: the HPA acts within its 15 s sync, the cluster autoscaler sees the pending
 * pod within ~10 s, a cloud VM is provisioned in ~90 s, joins the cluster and turns Ready in ~60 s, then image pull,
 * pod start and readiness take another ~60-90 s (AWS target tracking: 3 one-minute alarm datapoints plus a similar
 * launch and warm-up). Both strategies see a 5-minute sample once its period is over; Understudy's ~2 s shadow
 * activation then serves from the next step, the reactive host one step (5 min) later.
 */
const REACTIVE_BOOT_STEPS = 1;
const REACTIVE_SCALE_OUT_PERCENT = 80;
const REACTIVE_SCALE_IN_PERCENT = 50;
const REACTIVE_SCALE_IN_STEPS = 15 / STEP_MINUTES;
/** Static headroom: capacity = max(1, p95 / this) hosts, chosen with hindsight of the whole trace. */
const STATIC_TARGET_PERCENT = 80;
/** A scale-out later than the longest forecast horizon after a crossing does not answer it. */
const LEAD_LOOKAHEAD_STEPS = MAX_HORIZON_STEPS;
/** A crossing is pre-empted when the extra capacity served at least this long before it. */
const PREEMPT_MINUTES = 10;

const HOST_CAPACITY: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 16_000, networkMbps: 10_000 };
/** Four workloads share the demand in proportion to their reservations, so the policy's share estimate is right. */
const WORKLOAD_SHARES = [0.4, 0.3, 0.2, 0.1];

// ---- strategies ---------------------------------------------------------------------------------------------------

interface ScaleOut {
  /** Step whose sample triggered it. */
  decidedAt: number;
  /** Whether it opened an episode (no extra capacity before). */
  opensEpisode: boolean;
}

interface StrategyResult extends CrossingStats {
  overloadMinutes: number;
  hostHours: number;
  scaleOuts: number;
  scaleBacks: number;
  actions: number;
  /** Episode-opening scale-outs with no un-scaled crossing in progress or within the lookahead: capacity for nothing. */
  scaleOutsWithoutCrossing: number;
  /** Static only: the capacity chosen, in hosts. */
  capacityHosts?: number;
  /** Step by step, for --plot (left out of the JSON). */
  timeline: Omit<StrategyTimeline, 'strategy'>;
}

const stepHours = STEP_MINUTES / 60;

/** `extraServing[step]`: capacity beyond the primary alone served at that step; `overload[step]`: a host above 90%. */
function summarise(
  demand: Float64Array,
  extraServing: Uint8Array,
  overload: Uint8Array,
  hostHours: number,
  scaleOuts: ScaleOut[],
  scaleBacks: number,
): StrategyResult {
  const above = (step: number): boolean => demand[step]! > POLICY.thresholdPercent;
  const withoutCrossing = scaleOuts.filter((out) => {
    if (!out.opensEpisode) return false;
    for (let step = out.decidedAt; step <= out.decidedAt + LEAD_LOOKAHEAD_STEPS && step < demand.length; step++)
      if (above(step)) return false;
    return true;
  }).length;
  return {
    overloadMinutes: overload.reduce((n, v) => n + v, 0) * STEP_MINUTES,
    hostHours,
    scaleOuts: scaleOuts.length,
    scaleBacks,
    actions: scaleOuts.length + scaleBacks,
    ...crossingStats(
      demand,
      Array.from(extraServing, (v) => v === 1),
      {
        thresholdPercent: POLICY.thresholdPercent,
        rearmBelowPercent: POLICY.hysteresisPercent,
        stepMinutes: STEP_MINUTES,
        preemptMinutes: PREEMPT_MINUTES,
        lookaheadSteps: LEAD_LOOKAHEAD_STEPS,
        leadCapMinutes: LEAD_LOOKAHEAD_STEPS * STEP_MINUTES,
      },
    ),
    scaleOutsWithoutCrossing: withoutCrossing,
    timeline: { extraServing, overload, scaleOutSteps: scaleOuts.map((o) => o.decidedAt) },
  };
}

const hostData = (
  hostId: string,
  role: HostData['role'],
  status: HostData['status'],
  allocationFraction: number,
  cpuPercent?: number,
): HostData => ({
  hostId,
  region: role === 'primary' ? 'region-a' : 'region-b',
  zone: role === 'primary' ? 'region-a-1' : 'region-b-1',
  role,
  status,
  capacity: { ...HOST_CAPACITY },
  allocationFraction,
  ...(cpuPercent === undefined ? {} : { utilisation: { cpu: cpuPercent, memory: 0, storage: 0, network: 0 } }),
});

interface UnderstudyResult extends StrategyResult {
  provisionedPrimaries: number;
  /** Share of the steps each model forecast (the product's forecasts only). */
  modelShares?: Record<string, number>;
  /** What the live anomaly check did on this trace (the product's forecasts only). */
  anomalies?: AnomalyEvidence;
}

interface AnomalyEvidence {
  /** Steps whose newest actual the check called an isolated spike. */
  isolatedSpikeSteps: number;
  /** Steps where the same decision without the spike verdict would have scaled out: what the spike rule held back. */
  scaleOutsHeldBySpike: number;
  /** Steps the check called a sustained shift. */
  sustainedShiftSteps: number;
  /** Scale-outs made on a step the check called a sustained shift. */
  scaleOutsOnShift: number;
}

/**
 * What the policy is fed as the pair's peak demand over each horizon: `forecasts`, the product's forecast at each
 * step (forecastTrace); `current`, the utilisation now (reactiveShadow: no forecast at all); `oracle`, the true
 * future peak.
 */
type ForecastSource = { forecasts: (StepForecast | undefined)[] } | 'current' | 'oracle';

/** A forecast whose every horizon's peak is `peakOf(horizon steps)`, with no interval and no anomaly flag. */
function fixedForecast(issuedAt: number, peakOf: (steps: number) => { percent: number; atStep: number }) {
  const peaks: ForecastSummary['peaks'] = POLICY.horizonsMinutes.map((horizonMinutes) => {
    const { percent, atStep } = peakOf(horizonMinutes / STEP_MINUTES);
    return { horizonMinutes, resource: 'cpu', peakPercent: percent, peakAt: issuedAt + atStep * STEP_MS };
  });
  return { issuedAt, peaks, model: { modelType: 'none', parameters: {}, predictionHorizon: 0 } } as ForecastSummary;
}

/** The forecast the product made at each step for PLOT_HORIZON_STEPS ahead, with its interval (for --plot). */
const PLOT_HORIZON_STEPS = 3;

function runUnderstudy(trace: Trace, forecastSource: ForecastSource): UnderstudyResult {
  const { demand } = trace;
  const workloadIds = WORKLOAD_SHARES.map((_, i) => `w${i + 1}`);
  const shareOf = new Map(workloadIds.map((id, i) => [id, WORKLOAD_SHARES[i]!]));
  const requirementOf = (id: string): Capacity => {
    const share = shareOf.get(id) ?? 0;
    return {
      cpuCores: HOST_CAPACITY.cpuCores * share,
      memoryGiB: HOST_CAPACITY.memoryGiB * share,
      storageIops: HOST_CAPACITY.storageIops * share,
      networkMbps: HOST_CAPACITY.networkMbps * share,
    };
  };
  // Where each workload runs: the primary, the shadow, or a primary provisioned off the pair (which the workflow
  // does not track for scale-back, so it stays for the rest of the trace).
  const location = new Map<string, string>(workloadIds.map((id) => [id, 'primary']));
  let movedToShadow: string[] = [];
  let shadowStatus: HostData['status'] = 'inactive';
  let shadowAllocation = POLICY.shadowFraction;
  let memory: ScalingMemory = {};
  const residentShareOf = (where: Map<string, string>): number =>
    workloadIds.filter((id) => where.get(id) === 'primary').reduce((sum, id) => sum + (shareOf.get(id) ?? 0), 0);
  let provisioned = 0;
  let hostHours = 0;
  let scaleBacks = 0;
  const modelSteps = new Map<string, number>();
  const anomalies: AnomalyEvidence = {
    isolatedSpikeSteps: 0,
    scaleOutsHeldBySpike: 0,
    sustainedShiftSteps: 0,
    scaleOutsOnShift: 0,
  };
  let shiftNow = false;
  const scaleOuts: ScaleOut[] = [];
  const extraServing = new Uint8Array(demand.length);
  const overload = new Uint8Array(demand.length);

  for (let step = 0; step < demand.length; step++) {
    const load = new Map<string, number>();
    for (const [id, host] of location) load.set(host, (load.get(host) ?? 0) + demand[step]! * (shareOf.get(id) ?? 0));
    const primaryPercent = load.get('primary') ?? 0;
    // The shadow runs at its allocated size: its utilisation is its load over that share of a host.
    const shadowPercent = (load.get('shadow') ?? 0) / shadowAllocation;
    const serving = [...load.entries()].map(([host, value]) => (host === 'shadow' ? shadowPercent : value));
    if (Math.max(0, ...serving) > OVERLOAD_PERCENT) overload[step] = 1;
    hostHours += (1 + (shadowStatus === 'active' ? shadowAllocation : POLICY.shadowFraction) + provisioned) * stepHours;
    extraServing[step] = shadowStatus === 'active' || provisioned > 0 ? 1 : 0;

    const now = trace.startMs + step * STEP_MS;
    let forecast: ForecastSummary;
    if (typeof forecastSource === 'object') {
      const made = forecastSource.forecasts[step];
      if (!made) continue; // no forecast: the pair takes no decision this tick
      modelSteps.set(made.model, (modelSteps.get(made.model) ?? 0) + 1);
      forecast = { ...made.summary };
      shiftNow = made.sustainedShift;
      if (made.summary.isolatedSpike) anomalies.isolatedSpikeSteps++;
      if (made.sustainedShift) anomalies.sustainedShiftSteps++;
    } else if (forecastSource === 'current') {
      forecast = fixedForecast(now, () => ({ percent: demand[step]!, atStep: 0 }));
    } else {
      forecast = fixedForecast(now, (steps) => {
        let percent = Number.NEGATIVE_INFINITY;
        let atStep = 1;
        for (let k = 1; k <= steps && step + k < demand.length; k++) {
          if (demand[step + k]! > percent) {
            percent = demand[step + k]!;
            atStep = k;
          }
        }
        return { percent: Number.isFinite(percent) ? percent : demand[step]!, atStep };
      });
    }
    // As observePair reports it: the pair's demand, and the peaks scaled by the share still on the primary.
    const residentShare = demand[step]! > 0 ? primaryPercent / demand[step]! : residentShareOf(location);
    forecast.pairPeaks ??= forecast.peaks;
    forecast.peaks = forecast.pairPeaks.map((peak) => primaryShareOf(peak, residentShare));
    // Measured, not forecast: every strategy that runs the policy sees it.
    forecast.pairNow ??= [{ resource: 'cpu', percent: demand[step]! }];
    const workloads: WorkloadData[] = workloadIds
      .filter((id) => location.get(id) === 'primary' || location.get(id) === 'shadow')
      .map((id) => {
        const onShadow = location.get(id) === 'shadow';
        // As observePair does: moved workloads carry their share of the shadow's utilisation, the primary's do not.
        return {
          workloadId: id,
          resourceRequirements: requirementOf(id),
          hostId: onShadow ? 'shadow' : 'primary',
          ...(onShadow ? { utilisation: { cpu: (demand[step]! * (shareOf.get(id) ?? 0)) / shadowAllocation } } : {}),
        };
      });
    const input = {
      pair: {
        pairId: trace.name,
        primary: hostData('primary', 'primary', 'active', 1, primaryPercent),
        shadow: hostData('shadow', 'shadow', shadowStatus, shadowAllocation),
        workloads,
        movedToShadow,
      },
      forecast,
      policy: POLICY,
      memory,
      now,
    };
    const decision = decideScaling(input);
    if (forecast.isolatedSpike && !decision.execute) {
      const without = decideScaling({ ...input, forecast: { ...forecast, isolatedSpike: undefined } });
      if (without.execute && without.action.kind !== 'scale-back') anomalies.scaleOutsHeldBySpike++;
    }
    memory = decision.memory;
    if (!decision.execute) continue;
    const action = decision.action;
    if (shiftNow && action.kind !== 'scale-back' && action.kind !== 'none') anomalies.scaleOutsOnShift++;
    const hadExtraCapacity = shadowStatus === 'active' || provisioned > 0;
    switch (action.kind) {
      case 'none':
        break;
      case 'activate-shadow-and-migrate':
      case 'scale-up-shadow':
        shadowStatus = 'active';
        shadowAllocation = Math.max(shadowAllocation, action.allocationFraction);
        for (const id of action.workloadIds) location.set(id, 'shadow');
        movedToShadow = [...movedToShadow, ...action.workloadIds];
        scaleOuts.push({ decidedAt: step, opensEpisode: !hadExtraCapacity });
        break;
      case 'provision-primary':
        // A new primary is built like any host: it takes the same boot as the reactive strategy's, but the policy
        // only asks for one when the shadow cannot absorb the load, which these pairs never reach in practice.
        provisioned++;
        for (const id of action.workloadIds) location.set(id, `provisioned-${provisioned}`);
        scaleOuts.push({ decidedAt: step, opensEpisode: !hadExtraCapacity });
        break;
      case 'scale-back':
        for (const id of action.workloadIds) location.set(id, 'primary');
        movedToShadow = movedToShadow.filter((id) => !action.workloadIds.includes(id));
        if (movedToShadow.length === 0) {
          shadowStatus = 'inactive';
          shadowAllocation = action.allocationFraction;
        }
        scaleBacks++;
        break;
    }
  }
  return {
    ...summarise(demand, extraServing, overload, hostHours, scaleOuts, scaleBacks),
    provisionedPrimaries: provisioned,
    ...(typeof forecastSource === 'object'
      ? {
          anomalies,
          modelShares: Object.fromEntries(
            [...modelSteps].sort((a, b) => b[1] - a[1]).map(([model, n]) => [model, round(n / demand.length, 3)]),
          ),
        }
      : {}),
  };
}

function runReactive(trace: Trace): StrategyResult {
  const { demand } = trace;
  let usableHosts = 1;
  let pendingReadyAt: number[] = [];
  let lowSteps = 0;
  let hostHours = 0;
  let scaleBacks = 0;
  const scaleOuts: ScaleOut[] = [];
  const extraServing = new Uint8Array(demand.length);
  const overload = new Uint8Array(demand.length);
  for (let step = 0; step < demand.length; step++) {
    usableHosts += pendingReadyAt.filter((readyAt) => readyAt <= step).length;
    pendingReadyAt = pendingReadyAt.filter((readyAt) => readyAt > step);
    extraServing[step] = usableHosts > 1 ? 1 : 0;
    // Replicas spread the load evenly over the usable hosts: the best case for this strategy.
    const utilisation = demand[step]! / usableHosts;
    if (utilisation > OVERLOAD_PERCENT) overload[step] = 1;
    hostHours += (usableHosts + pendingReadyAt.length) * stepHours; // a booting host is billed too

    if (utilisation > REACTIVE_SCALE_OUT_PERCENT) {
      // Target tracking and the HPA size proportionally: enough hosts for the current demand at the target.
      const wanted = Math.ceil(demand[step]! / REACTIVE_SCALE_OUT_PERCENT);
      const adding = wanted - usableHosts - pendingReadyAt.length;
      if (adding > 0) {
        const servesFrom = step + 1 + REACTIVE_BOOT_STEPS;
        scaleOuts.push({ decidedAt: step, opensEpisode: usableHosts === 1 && pendingReadyAt.length === 0 });
        for (let i = 0; i < adding; i++) pendingReadyAt.push(servesFrom);
      }
    }
    lowSteps = utilisation < REACTIVE_SCALE_IN_PERCENT ? lowSteps + 1 : 0;
    // Like the cluster autoscaler (a node goes only if its pods fit elsewhere) and target tracking (scale-in never
    // aims above the target), a host is removed only if the others then stay under the scale-out threshold.
    const fitsOnFewer = usableHosts > 1 && demand[step]! / (usableHosts - 1) <= REACTIVE_SCALE_OUT_PERCENT;
    if (lowSteps >= REACTIVE_SCALE_IN_STEPS && fitsOnFewer && pendingReadyAt.length === 0) {
      usableHosts--;
      scaleBacks++;
      lowSteps = 0;
    }
  }
  return summarise(demand, extraServing, overload, hostHours, scaleOuts, scaleBacks);
}

function runStatic(trace: Trace): StrategyResult {
  const { demand } = trace;
  const capacityHosts = Math.max(1, quantile(demand, 0.95) / STATIC_TARGET_PERCENT);
  const overload = demand.map((value) => (value / capacityHosts > OVERLOAD_PERCENT ? 1 : 0));
  // Headroom beyond one host is in place all along: every crossing it covers was covered from the start.
  const extraServing = new Uint8Array(demand.length).fill(capacityHosts > 1 ? 1 : 0);
  return {
    ...summarise(demand, extraServing, Uint8Array.from(overload), capacityHosts * demand.length * stepHours, [], 0),
    capacityHosts,
  };
}

// ---- report -------------------------------------------------------------------------------------------------------

const STRATEGIES = ['understudy', 'understudyBaselines', 'reactiveShadow', 'reactiveBoot', 'static', 'oracle'] as const;
type StrategyName = (typeof STRATEGIES)[number];
const CLASSES: readonly TraceClass[] = ['seasonal', 'irregular'];

const round = (value: number, digits = 1): number => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const leadQuantile = (leads: number[], q: number): number | null =>
  leads.length === 0 ? null : round(quantile(leads, q));

/** Two days of history for the first forecast, and the longest horizon after it. */
const MIN_TRACE_STEPS = HISTORY_STEPS + MAX_HORIZON_STEPS;

function loadTraces(): { traces: Trace[]; skipped: SkippedTrace[]; from: string } {
  if (args.traces) {
    const loaded = loadTraceFolder(args.traces, 'folder', MIN_TRACE_STEPS);
    return { ...loaded, from: args.traces };
  }
  const nab = loadTraceFolder(NAB_CLOUDWATCH_DIR, 'nab', MIN_TRACE_STEPS);
  return { traces: [...nab.traces, ...syntheticTraces()], skipped: nab.skipped, from: 'data/nab + synthetic' };
}

const loaded = loadTraces();
if (loaded.traces.length === 0) {
  for (const s of loaded.skipped) console.error(`bench:policy: ${s.reason}`);
  console.error(`bench:policy: no usable trace in ${loaded.from}`);
  process.exit(1);
}

interface TraceRow {
  trace: Trace;
  classification: TraceClassification;
  results: Record<StrategyName, StrategyResult>;
  /** Understudy's forecast step by step, when plotting. */
  forecast?: TracePlotInput['forecast'];
}

const newForecastRecord = (): TracePlotInput['forecast'] => ({
  horizonMinutes: PLOT_HORIZON_STEPS * STEP_MINUTES,
  at: [],
  yhat: [],
  lower: [],
  upper: [],
});

const positive = (flag: string): number => {
  const value = Number(args[flag as 'epochs']);
  if (!(value > 0)) {
    console.error(`bench:policy: --${flag} must be a number above 0, got ${String(args[flag as 'epochs'])}`);
    process.exit(2);
  }
  return value;
};
const retrainDays = positive('retrain-days');
const epochs = Math.round(positive('epochs'));
const progress = (line: string): void => {
  if (!args.json) console.log(line);
  else console.error(line);
};
const walkForward = await prepareWalkForward(loaded.traces, { retrainDays, epochs, log: progress });
const forecastOptions = {
  historySteps: HISTORY_STEPS,
  horizonsMinutes: POLICY.horizonsMinutes,
  plotSteps: PLOT_HORIZON_STEPS,
};
/** Why steps got no forecast, per trace and source, so a NaN or a failed model never hides in the figures. */
const forecastFailures: { trace: string; forecast: string; reason: string; steps: number }[] = [];

const plottedForecast = (steps: (StepForecast | undefined)[], trace: Trace): TracePlotInput['forecast'] => {
  const record = newForecastRecord();
  steps.forEach((made, step) => {
    if (!made?.plotted) return;
    record.at.push(trace.startMs + (step + PLOT_HORIZON_STEPS) * STEP_MS);
    record.yhat.push(made.plotted.yhat);
    record.lower.push(made.plotted.lower);
    record.upper.push(made.plotted.upper);
  });
  return record;
};

const rows: TraceRow[] = [];
for (const trace of loaded.traces) {
  const seriesId = seriesIdOf(trace);
  const trained = await forecastTrace(trace, (t) => forecasterAt(walkForward, seriesId, t), forecastOptions);
  const baselines = await forecastTrace(trace, () => walkForward.untrained, forecastOptions);
  for (const [forecast, made] of [
    ['trained', trained],
    ['baselines', baselines],
  ] as const)
    for (const [reason, steps] of made.failures) forecastFailures.push({ trace: trace.name, forecast, reason, steps });
  rows.push({
    trace,
    classification: classifyTrace(trace.demand, STEPS_PER_DAY),
    ...(args.plot ? { forecast: plottedForecast(trained.steps, trace) } : {}),
    results: {
      understudy: runUnderstudy(trace, { forecasts: trained.steps }),
      understudyBaselines: runUnderstudy(trace, { forecasts: baselines.steps }),
      reactiveShadow: runUnderstudy(trace, 'current'),
      reactiveBoot: runReactive(trace),
      static: runStatic(trace),
      oracle: runUnderstudy(trace, 'oracle'),
    },
  });
}
await walkForward.close();

if (args.plot) {
  const dir = resolve(args.plot);
  mkdirSync(dir, { recursive: true });
  for (const row of rows) {
    const r = row.results;
    await writeTracePlot(join(dir, `${row.trace.name}.svg`), {
      name: row.trace.name,
      subtitle: `${row.classification.class}; overload minutes ${STRATEGIES.map((st) => `${st} ${r[st].overloadMinutes}`).join(', ')}; crossings pre-empted by understudy ${r.understudy.preempted10} of ${r.understudy.crossings}`,
      startMs: row.trace.startMs,
      stepMs: STEP_MS,
      levels: [
        { value: POLICY.thresholdPercent, label: `threshold ${POLICY.thresholdPercent}%` },
        { value: OVERLOAD_PERCENT, label: `overload ${OVERLOAD_PERCENT}%` },
      ],
      unit: '% of one host',
      seriesLabel: 'demand',
      demand: row.trace.demand,
      forecast: row.forecast ?? newForecastRecord(),
      timelines: STRATEGIES.map((strategy) => ({ strategy, ...r[strategy].timeline })),
    });
  }
  if (!args.json) console.log(`plots: ${rows.length} SVG files in ${dir}`);
}

function totals(strategy: StrategyName, of: TraceRow[]) {
  const pick = (metric: (r: StrategyResult) => number): number[] => of.map((row) => metric(row.results[strategy]));
  const leads = of.flatMap((row) => row.results[strategy].leadMinutes);
  return {
    traces: of.length,
    overloadMinutes: sum(pick((r) => r.overloadMinutes)),
    hostHours: round(sum(pick((r) => r.hostHours))),
    actions: sum(pick((r) => r.actions)),
    crossings: sum(pick((r) => r.crossings)),
    preempted10: sum(pick((r) => r.preempted10)),
    unanswered: sum(pick((r) => r.unanswered)),
    leadP10Minutes: leadQuantile(leads, 0.1),
    leadP50Minutes: leadQuantile(leads, 0.5),
    leadP90Minutes: leadQuantile(leads, 0.9),
    scaleOutsWithoutCrossing: sum(pick((r) => r.scaleOutsWithoutCrossing)),
  };
}
type Totals = ReturnType<typeof totals>;

const byClass = (c: TraceClass): TraceRow[] => rows.filter((row) => row.classification.class === c);
const strategies = Object.fromEntries(
  STRATEGIES.map((strategy) => [
    strategy,
    { ...totals(strategy, rows), classes: Object.fromEntries(CLASSES.map((c) => [c, totals(strategy, byClass(c))])) },
  ]),
) as Record<StrategyName, Totals & { classes: Record<TraceClass, Totals> }>;

/** Share of the overload minutes between reactiveShadow and the oracle that understudy removes (null: no gap). */
function gapClosed(of: TraceRow[]): number | null {
  const minutes = (strategy: StrategyName): number => sum(of.map((row) => row.results[strategy].overloadMinutes));
  const gap = minutes('reactiveShadow') - minutes('oracle');
  return gap <= 0 ? null : round((minutes('reactiveShadow') - minutes('understudy')) / gap, 3);
}

const share = (part: number, whole: number): number | null => (whole === 0 ? null : round(part / whole, 3));
const seasonal = strategies.understudy.classes.seasonal;
const shadowSeasonal = strategies.reactiveShadow.classes.seasonal;
const irregularWorse = byClass('irregular').filter(
  (row) => row.results.understudy.overloadMinutes > row.results.reactiveShadow.overloadMinutes,
);
const targets = [
  {
    target: 'seasonal: at least 80% of crossings pre-empted by 10 minutes or more',
    value: share(seasonal.preempted10, seasonal.crossings),
    limit: 0.8,
    met: seasonal.crossings > 0 && seasonal.preempted10 / seasonal.crossings >= 0.8,
  },
  {
    target: "seasonal: overload minutes at most 20% of reactiveShadow's",
    value: share(seasonal.overloadMinutes, shadowSeasonal.overloadMinutes),
    limit: 0.2,
    met: seasonal.overloadMinutes <= 0.2 * shadowSeasonal.overloadMinutes,
  },
  {
    target: "irregular: no trace with more overload minutes than reactiveShadow's",
    value: irregularWorse.map((row) => row.trace.name),
    limit: [],
    met: irregularWorse.length === 0,
  },
  {
    target: "all traces: overload minutes below reactiveShadow's",
    value: strategies.understudy.overloadMinutes,
    limit: strategies.reactiveShadow.overloadMinutes,
    met: strategies.understudy.overloadMinutes < strategies.reactiveShadow.overloadMinutes,
  },
  {
    target: "all traces: host-hours at most reactiveBoot's",
    value: strategies.understudy.hostHours,
    limit: strategies.reactiveBoot.hostHours,
    met: strategies.understudy.hostHours <= strategies.reactiveBoot.hostHours,
  },
];

/** The live anomaly check over every trace, and the traces that show each rule best. */
function anomalyTotals() {
  const evidence = rows.map((row) => ({
    trace: row.trace.name,
    ...(row.results.understudy as UnderstudyResult).anomalies!,
  }));
  const total = (field: keyof AnomalyEvidence): number => sum(evidence.map((e) => e[field]));
  const most = (field: keyof AnomalyEvidence) =>
    evidence.reduce((best, e) => (e[field] > best[field] ? e : best), evidence[0]!);
  return {
    isolatedSpikeSteps: total('isolatedSpikeSteps'),
    scaleOutsHeldBySpike: total('scaleOutsHeldBySpike'),
    sustainedShiftSteps: total('sustainedShiftSteps'),
    scaleOutsOnShift: total('scaleOutsOnShift'),
    mostHeldBySpike: most('scaleOutsHeldBySpike'),
    mostScaleOutsOnShift: most('scaleOutsOnShift'),
    tracesWithMaskedLabelWindows: traceRows.filter((t) => t.labelWindowsMaskedInTraining > 0).length,
    labelWindowsMasked: sum(traceRows.map((t) => t.labelWindowsMaskedInTraining)),
  };
}

const config = {
  traces: loaded.from,
  policy: POLICY,
  stepMinutes: STEP_MINUTES,
  overloadPercent: OVERLOAD_PERCENT,
  workloadShares: WORKLOAD_SHARES,
  forecast: {
    understudy: `the OnnxForecaster (Prophet and LSTM ONNX, the selection, the baselines as fallback) over the walk-forward retrains: the trainer run daily at 03:00 UTC on each trace's last 14 days before it (--retrain-days ${retrainDays}, --epochs ${epochs}); before a trace's first retrain, no learned model`,
    understudyBaselines: 'the same forecaster with no learned model: the TypeScript baselines it falls back on',
    reactiveShadow: 'the current utilisation',
    oracle: 'the true future peak per horizon',
    requests:
      'as observePair makes them (src/forecast/pairForecast.ts): two days of history, 60 min ahead, the anomaly check on the last 30 min',
    walkForward: {
      cache: walkForward.dir,
      fromCache: walkForward.fromCache,
      retrains: walkForward.retrains.length,
      trainedSeconds: walkForward.trainedSeconds,
    },
  },
  shadowActivation: 'about 2 s: serves from the step after the deciding sample',
  reactiveBoot: {
    bootMinutes: REACTIVE_BOOT_STEPS * STEP_MINUTES,
    scaleOutAbovePercent: REACTIVE_SCALE_OUT_PERCENT,
    sizing: 'ceil(demand / 80%) hosts, load spread evenly',
    scaleInBelowPercent: REACTIVE_SCALE_IN_PERCENT,
    scaleInAfterMinutes: REACTIVE_SCALE_IN_STEPS * STEP_MINUTES,
  },
  static: `capacity = max(1, p95(demand) / ${STATIC_TARGET_PERCENT}%) hosts, with hindsight of the whole trace`,
  crossing: `a step where the un-scaled demand goes above ${POLICY.thresholdPercent}%, after being at or below ${POLICY.thresholdPercent - POLICY.hysteresisPercent}% since the previous crossing`,
  preempted10: `capacity beyond the primary serving from at least ${PREEMPT_MINUTES} min before the crossing`,
  leadTime: `minutes from when the capacity serving at a crossing started (capped at ${LEAD_LOOKAHEAD_STEPS * STEP_MINUTES}), or minus the minutes until it first served within ${LEAD_LOOKAHEAD_STEPS * STEP_MINUTES} min after`,
  classes:
    'seasonal: on the first half of the trace, autocorrelation at 1 day (or 1 week, given 2 weeks) >= 0.4, or a line explaining >= 50% of the variance; irregular: the rest',
  mapping:
    'a series named cpu or mem (models/series_resources.json) is percent of one host; any other is scaled so its p99 runs at 95%',
};

const traceRows = rows.map(({ trace, classification, results }) => ({
  name: trace.name,
  source: trace.source,
  scaling: trace.scaling,
  steps: trace.demand.length,
  labelWindowsMaskedInTraining: walkForward.maskedWindows.get(seriesIdOf(trace)) ?? 0,
  class: classification.class,
  classification: {
    dailyAutocorrelation: round(classification.dailyAutocorrelation, 3),
    weeklyAutocorrelation:
      classification.weeklyAutocorrelation === null ? null : round(classification.weeklyAutocorrelation, 3),
    trendR2: round(classification.trendR2, 3),
  },
  notes: trace.notes,
  strategies: Object.fromEntries(
    STRATEGIES.map((strategy) => {
      // The step-by-step timeline is for the plots only.
      const { leadMinutes, timeline, ...r } = results[strategy];
      return [
        strategy,
        {
          ...r,
          hostHours: round(r.hostHours, 2),
          capacityHosts: r.capacityHosts === undefined ? undefined : round(r.capacityHosts, 3),
          leadP10Minutes: leadQuantile(leadMinutes, 0.1),
          leadP50Minutes: leadQuantile(leadMinutes, 0.5),
          leadP90Minutes: leadQuantile(leadMinutes, 0.9),
        },
      ];
    }),
  ),
}));

const anomalies = anomalyTotals();

if (args.json) {
  console.log(
    JSON.stringify(
      {
        benchmark: 'policy',
        config,
        strategies,
        anomalies,
        gapClosed: {
          all: gapClosed(rows),
          seasonal: gapClosed(byClass('seasonal')),
          irregular: gapClosed(byClass('irregular')),
        },
        targets,
        skipped: loaded.skipped,
        forecastFailures,
        traces: traceRows,
      },
      null,
      2,
    ),
  );
} else {
  const pad = (text: string | number | null, width: number): string => String(text ?? '-').padStart(width);
  const abbreviations: Record<StrategyName, string> = {
    understudy: 'U',
    understudyBaselines: 'UB',
    reactiveShadow: 'RS',
    reactiveBoot: 'RB',
    static: 'S',
    oracle: 'O',
  };
  const list = (values: (string | number | null)[], width: number): string =>
    values.map((v) => pad(v, width)).join(' ');
  console.log(
    `Policy benchmark on ${loaded.from}: Understudy (U) vs the same shadows reactive (RS), reactive new hosts (RB), static headroom (S), the oracle (O)`,
  );
  console.log(
    `overload = a serving host above ${OVERLOAD_PERCENT}%; pre-empted = capacity in place ${PREEMPT_MINUTES} min before the crossing; reactive boot ${REACTIVE_BOOT_STEPS * STEP_MINUTES} min\n`,
  );
  for (const s of loaded.skipped) console.log(`skipped: ${s.reason}`);
  for (const f of forecastFailures)
    console.log(`${f.trace}: ${f.steps} steps without a ${f.forecast} forecast (no decision there): ${f.reason}`);
  for (const row of rows)
    if (row.trace.notes.length > 0) console.log(`${row.trace.name}: ${row.trace.notes.join('; ')}`);
  console.log('');
  const names = STRATEGIES.map((s) => abbreviations[s]).join('/');
  const header = `${'trace'.padEnd(38)} ${'class'.padEnd(9)} ${pad('x80', 4)} | ${`over90 min ${names}`.padStart(34)} | ${`pre-empted ${names}`.padStart(24)} | ${'lead p50 U/RS/O'.padStart(17)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const { trace, classification, results } of rows) {
    const p50 = (strategy: StrategyName): number | null => leadQuantile(results[strategy].leadMinutes, 0.5);
    console.log(
      `${trace.name.padEnd(38)} ${classification.class.padEnd(9)} ${pad(results.understudy.crossings, 4)} | ${list(
        STRATEGIES.map((s) => results[s].overloadMinutes),
        6,
      )} | ${list(
        STRATEGIES.map((s) => results[s].preempted10),
        4,
      )} | ${list([p50('understudy'), p50('reactiveShadow'), p50('oracle')], 5)}`,
    );
  }
  console.log('');
  for (const group of ['all', ...CLASSES] as const) {
    console.log(`${group} traces:`);
    for (const strategy of STRATEGIES) {
      const t = group === 'all' ? strategies[strategy] : strategies[strategy].classes[group];
      console.log(
        `  ${strategy.padEnd(15)} over90 ${pad(t.overloadMinutes, 6)} min | host-h ${pad(t.hostHours, 8)} | actions ${pad(t.actions, 5)} | pre-empted ${pad(t.preempted10, 4)} of ${pad(t.crossings, 4)} crossings, ${pad(t.unanswered, 3)} unanswered | lead p10/p50/p90 ${list([t.leadP10Minutes, t.leadP50Minutes, t.leadP90Minutes], 5)} min`,
      );
    }
    const closed = gapClosed(group === 'all' ? rows : byClass(group));
    console.log(
      `  gap between reactiveShadow and the oracle closed by understudy: ${closed === null ? '-' : `${Math.round(closed * 100)}%`}`,
    );
  }
  const a = anomalies;
  console.log('\nthe live anomaly check (understudy):');
  console.log(
    `  isolated spikes on ${a.isolatedSpikeSteps} steps held back ${a.scaleOutsHeldBySpike} predicted scale-outs (most on ${a.mostHeldBySpike.trace}: ${a.mostHeldBySpike.scaleOutsHeldBySpike})`,
  );
  console.log(
    `  sustained shifts on ${a.sustainedShiftSteps} steps, ${a.scaleOutsOnShift} scale-outs made on one (most on ${a.mostScaleOutsOnShift.trace}: ${a.mostScaleOutsOnShift.scaleOutsOnShift})`,
  );
  console.log(
    `  label windows masked in the last retrain's training: ${a.labelWindowsMasked}, on ${a.tracesWithMaskedLabelWindows} traces`,
  );
  console.log('\ntargets:');
  for (const t of targets)
    console.log(
      `  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${JSON.stringify(t.value)} (limit ${JSON.stringify(t.limit)})`,
    );
}
