/**
 * bench:policy — trace-driven comparison of scaling strategies, at full speed and without services. Not a test.
 *
 * Every trace is one host pair's demand at 5-minute steps, in percent of one primary's capacity. Three strategies run
 * over the same traces:
 *  (a) understudy: the pure `decideScaling` the pair workflow calls on every tick, fed the way `hostPair.tick()` feeds
 *      it (memory carried tick to tick, movedToShadow updated when an action executes, forecast peaks per horizon of
 *      the pair's whole demand, scaled by the share still on the primary, as observePair reports them) with the
 *      TypeScript baselines the forecaster falls back on;
 *  (b) reactive: threshold scaling on CURRENT utilisation with a boot delay (HPA + cluster autoscaler, or AWS target
 *      tracking);
 *  (c) static: a fixed capacity sized with hindsight so the trace's 95th percentile stays under the threshold.
 * A fourth, diagnostic run (understudyPrimaryOnly) is (a) with the baselines fitted on the primary's own observed
 * utilisation instead, as observePair did before it forecast the pair's demand: it shows what that input cost.
 *
 * Usage: npm run bench:policy [-- --json]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { baselineEligible, baselineForecast, baselinePoint, type BaselineName } from '../src/forecast/baselines.js';
import { configSchema } from '../src/config/schema.js';
import { clearlySeasonal } from '../src/forecast/forecaster.js';
import { NAB_DIR } from '../src/stack/paths.js';
import { decideScaling } from '../src/policy/scaling.js';
import { assessDeviation } from '../src/shared/anomaly.js';
import type {
  Capacity,
  ForecastSummary,
  HostData,
  ScalingMemory,
  ScalingPolicy,
  WorkloadData,
} from '../src/policy/types.js';

const { values: args } = parseArgs({ options: { json: { type: 'boolean' } } });

const NAB_CLOUDWATCH_DIR = join(NAB_DIR, 'realAWSCloudwatch');
const STEP_MINUTES = 5;
const STEP_MS = STEP_MINUTES * 60_000;
const STEPS_PER_DAY = 288;
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
/** A scale-out's crossing is the next un-scaled crossing within the longest forecast horizon. */
const LEAD_LOOKAHEAD_STEPS = MAX_HORIZON_STEPS;

const HOST_CAPACITY: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 16_000, networkMbps: 10_000 };
/** Four workloads share the demand in proportion to their reservations, so the policy's share estimate is right. */
const WORKLOAD_SHARES = [0.4, 0.3, 0.2, 0.1];

interface Trace {
  name: string;
  source: 'nab' | 'synthetic';
  /** How `value` became percent of one host. */
  scaling: string;
  startMs: number;
  demand: Float64Array;
}

// ---- inputs -------------------------------------------------------------------------------------------------------

/** Parses a NAB CSV onto a 5-minute grid: duplicates dropped (first kept), gaps filled with the previous value. */
function readNabSeries(path: string): { startMs: number; values: Float64Array } {
  const samples = new Map<number, number>();
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    const [stamp, raw] = line.split(',');
    if (stamp === undefined || raw === undefined) continue;
    const at = Date.parse(`${stamp.trim().replace(' ', 'T')}Z`);
    const value = Number(raw);
    // The DST-skewed exports repeat 03:00:00; keeping the first of a repeated stamp de-duplicates them.
    if (Number.isFinite(at) && Number.isFinite(value) && !samples.has(at)) samples.set(at, value);
  }
  const ordered = [...samples.entries()].sort((a, b) => a[0] - b[0]);
  const startMs = ordered[0]![0];
  const endMs = ordered[ordered.length - 1]![0];
  const steps = Math.floor((endMs - startMs) / STEP_MS) + 1;
  const values = new Float64Array(steps);
  let next = 0;
  let last = ordered[0]![1];
  for (let step = 0; step < steps; step++) {
    // Sample clocks drift a few minutes off the grid; a sample belongs to the slot it falls nearest to.
    const slotEnd = startMs + step * STEP_MS + STEP_MS / 2;
    while (next < ordered.length && ordered[next]![0] < slotEnd) last = ordered[next++]![1];
    values[step] = last;
  }
  return { startMs, values };
}

function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

function nabTraces(): Trace[] {
  return readdirSync(NAB_CLOUDWATCH_DIR)
    .filter((file) => file.endsWith('.csv'))
    .sort()
    .map((file) => {
      const { startMs, values } = readNabSeries(join(NAB_CLOUDWATCH_DIR, file));
      const isPercent = /cpu_utilization/.test(file);
      if (isPercent)
        return { name: file.replace(/\.csv$/, ''), source: 'nab', scaling: 'percent', startMs, demand: values };
      // Bytes and counts have no natural ceiling: pretend the host was sized so its p99 ran at 95%.
      const p99 = quantile(values, 0.99);
      const factor = p99 > 0 ? 95 / p99 : 1;
      return {
        name: file.replace(/\.csv$/, ''),
        source: 'nab',
        scaling: 'p99 -> 95%',
        startMs,
        demand: values.map((v) => v * factor),
      };
    });
}

/** mulberry32: a tiny seeded PRNG, so the synthetic fleets are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface FleetShape {
  fleet: string;
  base: number;
  amplitude: number;
  /** Percent points added per day (organic growth). */
  growthPerDay: number;
  /** Amplitude multiplier on days 5 and 6 of each week. */
  weekendFactor: number;
}

const FLEETS: FleetShape[] = [
  { fleet: 'daily', base: 48, amplitude: 36, growthPerDay: 0, weekendFactor: 1 },
  { fleet: 'growing', base: 38, amplitude: 30, growthPerDay: 1.2, weekendFactor: 1 },
  { fleet: 'weekly', base: 45, amplitude: 40, growthPerDay: 0, weekendFactor: 0.4 },
];
const PAIRS_PER_FLEET = 2;
const SYNTHETIC_DAYS = 14;
const SYNTHETIC_START_MS = Date.parse('2026-01-05T00:00:00Z');

/** Daily sine (peak mid-afternoon) + Gaussian noise + rare short spikes, one series per pair. */
function syntheticTraces(): Trace[] {
  const traces: Trace[] = [];
  FLEETS.forEach((shape, fleetIndex) => {
    for (let pair = 0; pair < PAIRS_PER_FLEET; pair++) {
      const random = seededRandom(1_000 * (fleetIndex + 1) + pair);
      const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const phaseSteps = Math.floor(random() * 24); // pairs of a fleet peak within two hours of each other
      const amplitude = shape.amplitude * (0.9 + 0.2 * random());
      const steps = SYNTHETIC_DAYS * STEPS_PER_DAY;
      const demand = new Float64Array(steps);
      let spikeLeft = 0;
      let spikeHeight = 0;
      for (let step = 0; step < steps; step++) {
        const day = Math.floor(step / STEPS_PER_DAY);
        const weekend = day % 7 >= 5;
        const angle = (2 * Math.PI * (step + phaseSteps - 14 * 12 + STEPS_PER_DAY / 4)) / STEPS_PER_DAY;
        if (spikeLeft === 0 && random() < 0.003) {
          spikeLeft = 1 + Math.floor(random() * 3);
          spikeHeight = 20 + random() * 25;
        }
        const spike = spikeLeft > 0 ? spikeHeight : 0;
        if (spikeLeft > 0) spikeLeft--;
        const value =
          shape.base +
          shape.growthPerDay * (step / STEPS_PER_DAY) +
          amplitude * (weekend ? shape.weekendFactor : 1) * Math.sin(angle) +
          3 * gaussian() +
          spike;
        demand[step] = Math.max(0, value);
      }
      traces.push({
        name: `synthetic-${shape.fleet}-${pair + 1}`,
        source: 'synthetic',
        scaling: 'percent',
        startMs: SYNTHETIC_START_MS,
        demand,
      });
    }
  });
  return traces;
}

// ---- strategies ---------------------------------------------------------------------------------------------------

interface ScaleOut {
  /** Step whose sample triggered it. */
  decidedAt: number;
  /** First step the added capacity serves. */
  servesFrom: number;
  /** Whether it opened an episode (no extra capacity before), the only ones whose lead time is measured. */
  opensEpisode: boolean;
  /**
   * First step after the previous episode ended: a crossing already in progress is dated no earlier, so a strategy
   * that gave capacity back while demand stayed high is charged from when it did, not from the run's distant start.
   */
  notBefore: number;
}

interface StrategyResult {
  overloadMinutes: number;
  hostHours: number;
  scaleOuts: number;
  scaleBacks: number;
  actions: number;
  /** Lead time (minutes) of each episode-opening scale-out before the un-scaled crossing it answered. */
  leadMinutes: number[];
  /** Episode-opening scale-outs not followed by any un-scaled crossing within the lookahead. */
  scaleOutsWithoutCrossing: number;
  /** Static only: the capacity chosen, in hosts. */
  capacityHosts?: number;
}

const stepHours = STEP_MINUTES / 60;

function summarise(
  demand: Float64Array,
  overloadSteps: number,
  hostHours: number,
  scaleOuts: ScaleOut[],
  scaleBacks: number,
): StrategyResult {
  const leadMinutes: number[] = [];
  let withoutCrossing = 0;
  const above = (step: number): boolean => demand[step]! > POLICY.thresholdPercent;
  for (const out of scaleOuts.filter((o) => o.opensEpisode)) {
    let crossing: number | undefined;
    if (above(out.decidedAt)) {
      crossing = out.decidedAt;
      while (crossing > out.notBefore && above(crossing - 1)) crossing--;
    } else {
      for (let step = out.decidedAt + 1; step <= out.decidedAt + LEAD_LOOKAHEAD_STEPS && step < demand.length; step++)
        if (above(step)) {
          crossing = step;
          break;
        }
    }
    if (crossing === undefined) withoutCrossing++;
    else leadMinutes.push((crossing - out.servesFrom) * STEP_MINUTES);
  }
  return {
    overloadMinutes: overloadSteps * STEP_MINUTES,
    hostHours,
    scaleOuts: scaleOuts.length,
    scaleBacks,
    actions: scaleOuts.length + scaleBacks,
    leadMinutes,
    scaleOutsWithoutCrossing: withoutCrossing,
  };
}

/** Forecast of the pair's observed primary utilisation, as the forecaster would give it with its baselines. */
function forecastPeaks(history: Float64Array, issuedAt: number): { forecast: ForecastSummary; model: BaselineName } {
  // The forecaster prefers seasonal-naive for a series it has no validated model for when the series is clearly
  // seasonal over its own history (the request's horizon is the longest policy horizon); otherwise short-mean here.
  const model: BaselineName = clearlySeasonal(history, MAX_HORIZON_STEPS) ? 'seasonal_naive' : 'short_mean';
  const origin = history.length - 1;
  const peaks: ForecastSummary['peaks'] = POLICY.horizonsMinutes.map((horizonMinutes) => {
    let peakPercent = Number.NEGATIVE_INFINITY;
    let peakAt = issuedAt;
    for (let step = 1; step <= horizonMinutes / STEP_MINUTES; step++) {
      const yhat = baselinePoint(model, history, origin, step);
      if (yhat > peakPercent) {
        peakPercent = yhat;
        peakAt = issuedAt + step * STEP_MS;
      }
    }
    return { horizonMinutes, resource: 'cpu', peakPercent, peakAt };
  });
  return {
    forecast: {
      issuedAt,
      peaks,
      model: { modelType: model, parameters: {}, predictionHorizon: MAX_HORIZON_STEPS * STEP_MINUTES },
    },
    model,
  };
}

/** Steps of actuals the live anomaly check looks back over (ANOMALY_WINDOW_STEPS in activities/orchestration.ts). */
const ANOMALY_WINDOW_STEPS = 6;

/**
 * observePair's live anomaly check, on the baselines: the last 30 minutes of actuals against the forecast (with its
 * 80% interval) made just before them; the newest actual above the interval without a sustained shift is an
 * isolated spike, which the policy does not act on unless it recurs within SPIKE_RECURRENCE_MINUTES.
 */
function isolatedSpikeNow(history: Float64Array, issuedAt: number, model: BaselineName): boolean {
  const cut = history.length - ANOMALY_WINDOW_STEPS;
  if (cut <= 0 || !baselineEligible(model, cut, ANOMALY_WINDOW_STEPS)) return false;
  const before = baselineForecast(model, history.subarray(0, cut), ANOMALY_WINDOW_STEPS);
  const at = (k: number): number => issuedAt - (ANOMALY_WINDOW_STEPS - 1 - k) * STEP_MS;
  const points = Array.from(before.yhat, (yhat, k) => ({
    timestamp: at(k),
    yhat,
    lower: before.lower[k]!,
    upper: before.upper[k]!,
  }));
  const actuals = Array.from(history.subarray(cut), (value, k) => ({ timestamp: at(k), value }));
  const assessment = assessDeviation(points, actuals);
  const newest = assessment.flags.find((f) => f.timestamp === issuedAt);
  return assessment.kind === 'isolated_spike' && newest?.direction === 'above';
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
  seasonalTicksShare: number;
}

/**
 * What the forecast is fitted on. `pair-demand` is what the pair workflow does: observePair forecasts the pair's total
 * demand (wherever its workloads run) and scales it by the share still on the primary. `primary-observed` is the
 * diagnostic: the primary host's own utilisation, which drops once workloads move off it.
 */
type ForecastInput = 'primary-observed' | 'pair-demand';

function runUnderstudy(trace: Trace, forecastInput: ForecastInput): UnderstudyResult {
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
  let overloadSteps = 0;
  let hostHours = 0;
  let scaleBacks = 0;
  let seasonalTicks = 0;
  let episodeEndedAt = 0;
  const scaleOuts: ScaleOut[] = [];
  const observedPrimary = new Float64Array(demand.length);

  for (let step = 0; step < demand.length; step++) {
    const load = new Map<string, number>();
    for (const [id, host] of location) load.set(host, (load.get(host) ?? 0) + demand[step]! * (shareOf.get(id) ?? 0));
    const primaryPercent = load.get('primary') ?? 0;
    // The shadow runs at its allocated size: its utilisation is its load over that share of a host.
    const shadowPercent = (load.get('shadow') ?? 0) / shadowAllocation;
    const serving = [...load.entries()].map(([host, value]) => (host === 'shadow' ? shadowPercent : value));
    if (Math.max(0, ...serving) > OVERLOAD_PERCENT) overloadSteps++;
    hostHours += (1 + (shadowStatus === 'active' ? shadowAllocation : POLICY.shadowFraction) + provisioned) * stepHours;
    observedPrimary[step] = primaryPercent;

    const now = trace.startMs + step * STEP_MS;
    const source = forecastInput === 'primary-observed' ? observedPrimary : demand;
    const history = source.subarray(Math.max(0, step + 1 - HISTORY_STEPS), step + 1);
    const { forecast, model } = forecastPeaks(history, now);
    if (forecastInput === 'pair-demand') {
      const residentShare = demand[step]! > 0 ? primaryPercent / demand[step]! : residentShareOf(location);
      forecast.pairPeaks = forecast.peaks.map((peak) => ({ ...peak }));
      for (const peak of forecast.peaks) peak.peakPercent *= residentShare;
    }
    if (model === 'seasonal_naive') seasonalTicks++;
    if (isolatedSpikeNow(history, now, model)) forecast.isolatedSpike = true;
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
    const decision = decideScaling({
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
    });
    memory = decision.memory;
    if (!decision.execute) continue;
    const action = decision.action;
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
        scaleOuts.push({
          decidedAt: step,
          servesFrom: step + 1,
          opensEpisode: !hadExtraCapacity,
          notBefore: episodeEndedAt,
        });
        break;
      case 'provision-primary':
        // A new primary is built like any host: it takes the same boot as the reactive strategy's, but the policy
        // only asks for one when the shadow cannot absorb the load, which these pairs never reach in practice.
        provisioned++;
        for (const id of action.workloadIds) location.set(id, `provisioned-${provisioned}`);
        scaleOuts.push({
          decidedAt: step,
          servesFrom: step + 1 + REACTIVE_BOOT_STEPS,
          opensEpisode: !hadExtraCapacity,
          notBefore: episodeEndedAt,
        });
        break;
      case 'scale-back':
        for (const id of action.workloadIds) location.set(id, 'primary');
        movedToShadow = movedToShadow.filter((id) => !action.workloadIds.includes(id));
        if (movedToShadow.length === 0) {
          shadowStatus = 'inactive';
          shadowAllocation = action.allocationFraction;
          if (provisioned === 0) episodeEndedAt = step + 1;
        }
        scaleBacks++;
        break;
    }
  }
  return {
    ...summarise(demand, overloadSteps, hostHours, scaleOuts, scaleBacks),
    provisionedPrimaries: provisioned,
    seasonalTicksShare: seasonalTicks / demand.length,
  };
}

function runReactive(trace: Trace): StrategyResult {
  const { demand } = trace;
  let usableHosts = 1;
  let pendingReadyAt: number[] = [];
  let lowSteps = 0;
  let episodeEndedAt = 0;
  let overloadSteps = 0;
  let hostHours = 0;
  let scaleBacks = 0;
  const scaleOuts: ScaleOut[] = [];
  for (let step = 0; step < demand.length; step++) {
    usableHosts += pendingReadyAt.filter((readyAt) => readyAt <= step).length;
    pendingReadyAt = pendingReadyAt.filter((readyAt) => readyAt > step);
    // Replicas spread the load evenly over the usable hosts: the best case for this strategy.
    const utilisation = demand[step]! / usableHosts;
    if (utilisation > OVERLOAD_PERCENT) overloadSteps++;
    hostHours += (usableHosts + pendingReadyAt.length) * stepHours; // a booting host is billed too

    if (utilisation > REACTIVE_SCALE_OUT_PERCENT) {
      // Target tracking and the HPA size proportionally: enough hosts for the current demand at the target.
      const wanted = Math.ceil(demand[step]! / REACTIVE_SCALE_OUT_PERCENT);
      const adding = wanted - usableHosts - pendingReadyAt.length;
      if (adding > 0) {
        const servesFrom = step + 1 + REACTIVE_BOOT_STEPS;
        scaleOuts.push({
          decidedAt: step,
          servesFrom,
          opensEpisode: usableHosts === 1 && pendingReadyAt.length === 0,
          notBefore: episodeEndedAt,
        });
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
      if (usableHosts === 1) episodeEndedAt = step + 1;
    }
  }
  return summarise(demand, overloadSteps, hostHours, scaleOuts, scaleBacks);
}

function runStatic(trace: Trace): StrategyResult {
  const { demand } = trace;
  const capacityHosts = Math.max(1, quantile(demand, 0.95) / STATIC_TARGET_PERCENT);
  let overloadSteps = 0;
  for (const value of demand) if (value / capacityHosts > OVERLOAD_PERCENT) overloadSteps++;
  return { ...summarise(demand, overloadSteps, capacityHosts * demand.length * stepHours, [], 0), capacityHosts };
}

// ---- report -------------------------------------------------------------------------------------------------------

const STRATEGIES = ['understudy', 'reactive', 'static', 'understudyPrimaryOnly'] as const;
type StrategyName = (typeof STRATEGIES)[number];

const median = (values: readonly number[]): number => (values.length === 0 ? Number.NaN : quantile(values, 0.5));
const round = (value: number, digits = 1): number => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);

const traces = [...nabTraces(), ...syntheticTraces()];
const perTrace = traces.map((trace) => {
  const crossings = trace.demand.reduce(
    (count, value, step) =>
      count + (value > POLICY.thresholdPercent && !(trace.demand[step - 1]! > POLICY.thresholdPercent) ? 1 : 0),
    0,
  );
  const results: Record<StrategyName, StrategyResult> = {
    understudy: runUnderstudy(trace, 'pair-demand'),
    reactive: runReactive(trace),
    static: runStatic(trace),
    understudyPrimaryOnly: runUnderstudy(trace, 'primary-observed'),
  };
  return { trace, crossings, results };
});

function aggregate(strategy: StrategyName, rows: typeof perTrace) {
  const pick = (metric: (r: StrategyResult) => number): number[] => rows.map((row) => metric(row.results[strategy]));
  const leads = rows.flatMap((row) => row.results[strategy].leadMinutes);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  return {
    traces: rows.length,
    medianOverloadMinutes: round(median(pick((r) => r.overloadMinutes))),
    totalOverloadMinutes: sum(pick((r) => r.overloadMinutes)),
    medianHostHours: round(median(pick((r) => r.hostHours))),
    totalHostHours: round(sum(pick((r) => r.hostHours))),
    medianActions: median(pick((r) => r.actions)),
    totalActions: sum(pick((r) => r.actions)),
    scaleOutsTimed: leads.length,
    medianLeadMinutes: round(median(leads)),
    shareEarly: leads.length === 0 ? Number.NaN : round(leads.filter((lead) => lead >= 0).length / leads.length, 3),
    scaleOutsWithoutCrossing: sum(pick((r) => r.scaleOutsWithoutCrossing)),
  };
}

const groups = {
  all: perTrace,
  nab: perTrace.filter((row) => row.trace.source === 'nab'),
  synthetic: perTrace.filter((row) => row.trace.source === 'synthetic'),
};
const aggregates = Object.fromEntries(
  Object.entries(groups).map(([group, rows]) => [
    group,
    Object.fromEntries(STRATEGIES.map((strategy) => [strategy, aggregate(strategy, rows)])),
  ]),
);

const config = {
  policy: POLICY,
  stepMinutes: STEP_MINUTES,
  overloadPercent: OVERLOAD_PERCENT,
  workloadShares: WORKLOAD_SHARES,
  forecast: 'seasonal_naive when clearlySeasonal(last 2 days of observed primary utilisation, 60 min) else short_mean',
  understudyActivation: 'about 2 s: serves from the step after the deciding sample',
  reactive: {
    bootMinutes: REACTIVE_BOOT_STEPS * STEP_MINUTES,
    scaleOutAbovePercent: REACTIVE_SCALE_OUT_PERCENT,
    sizing: 'ceil(demand / 80%) hosts, load spread evenly',
    scaleInBelowPercent: REACTIVE_SCALE_IN_PERCENT,
    scaleInAfterMinutes: REACTIVE_SCALE_IN_STEPS * STEP_MINUTES,
  },
  static: `capacity = max(1, p95(demand) / ${STATIC_TARGET_PERCENT}%) hosts, with hindsight of the whole trace`,
  leadTime: `minutes from when an episode-opening scale-out serves to the first step the un-scaled demand is above ${POLICY.thresholdPercent}% (the run in progress, or the next within ${LEAD_LOOKAHEAD_STEPS * STEP_MINUTES} min)`,
};

if (args.json) {
  console.log(
    JSON.stringify(
      {
        benchmark: 'policy',
        config,
        traces: perTrace.map(({ trace, crossings, results }) => ({
          name: trace.name,
          source: trace.source,
          scaling: trace.scaling,
          steps: trace.demand.length,
          crossingsAbove80: crossings,
          strategies: Object.fromEntries(
            STRATEGIES.map((strategy) => {
              const r = results[strategy];
              return [
                strategy,
                {
                  ...r,
                  hostHours: round(r.hostHours, 2),
                  capacityHosts: r.capacityHosts === undefined ? undefined : round(r.capacityHosts, 3),
                },
              ];
            }),
          ),
        })),
        aggregates,
      },
      null,
      2,
    ),
  );
} else {
  const pad = (text: string | number, width: number): string => String(text).padStart(width);
  const triple = (values: (string | number)[], width: number): string => values.map((v) => pad(v, width)).join(' ');
  const leadText = (leads: number[]): string => (leads.length === 0 ? '-' : String(round(median(leads))));
  console.log('Policy benchmark: Understudy (U) vs reactive threshold scaling (R) vs static headroom (S)');
  console.log(
    "Up (diagnostic): Understudy forecasting the primary's own utilisation instead of the pair's demand (the former input)",
  );
  console.log(
    `reactive boot ${REACTIVE_BOOT_STEPS * STEP_MINUTES} min; ${config.static}; overload = a serving host above ${OVERLOAD_PERCENT}%\n`,
  );
  const header = `${'trace'.padEnd(40)} ${pad('x80', 4)} | ${'over90 min U/R/S/Up'.padStart(27)} | ${'host-hours U/R/S'.padStart(20)} | ${'actions U/R'.padStart(11)} | ${'lead med U/R'.padStart(12)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const { trace, crossings, results } of perTrace) {
    const u = results.understudy;
    const r = results.reactive;
    const s = results.static;
    const d = results.understudyPrimaryOnly;
    console.log(
      `${trace.name.padEnd(40)} ${pad(crossings, 4)} | ${triple([u.overloadMinutes, r.overloadMinutes, s.overloadMinutes, d.overloadMinutes], 6)} | ${triple([round(u.hostHours, 0), round(r.hostHours, 0), round(s.hostHours, 0)], 6)} | ${triple([u.actions, r.actions], 5)} | ${triple([leadText(u.leadMinutes), leadText(r.leadMinutes)], 5)}`,
    );
  }
  console.log('');
  for (const [group, byStrategy] of Object.entries(aggregates)) {
    console.log(`${group} traces:`);
    for (const strategy of STRATEGIES) {
      const a = (byStrategy as Record<StrategyName, ReturnType<typeof aggregate>>)[strategy];
      console.log(
        `  ${strategy.padEnd(20)} over90 median ${pad(a.medianOverloadMinutes, 6)} min, total ${pad(a.totalOverloadMinutes, 6)} | host-h median ${pad(a.medianHostHours, 6)}, total ${pad(a.totalHostHours, 7)} | actions median ${pad(a.medianActions, 4)}, total ${pad(a.totalActions, 5)} | lead median ${pad(a.medianLeadMinutes, 5)} min over ${a.scaleOutsTimed} (early ${Number.isFinite(a.shareEarly) ? Math.round(a.shareEarly * 100) : '-'}%), no crossing after ${a.scaleOutsWithoutCrossing}`,
      );
    }
  }
}
