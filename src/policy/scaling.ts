/**
 * The scaling decision: the specification's `trigger_scaling` pseudocode, with the hysteresis, cooldown, scale-back
 * and forecast-only mode the design adds. Pure and deterministic: the clock comes in as `now`, so a workflow can call
 * it on every tick and a replay takes the same decision.
 *
 * Branches (peak = the highest forecast peak over the policy's horizons, its resource the binding one):
 * - peak > threshold, shadow inactive         → activate the shadow at full size and migrate workloads to it;
 * - peak > threshold, shadow already active   → scale it up (and move more workloads);
 * - peak > threshold, shadow cannot absorb it → provision a new primary of the same size (no shadow, a shadow that
 *   failed or is still being built, or one that even at full size cannot take enough workloads);
 * - every peak < threshold − hysteresis for scaleBackAfterMinutes, shadow active with moved workloads → scale back;
 * - anything in between does nothing, so a forecast hovering around the threshold cannot make the pair flap.
 */
import {
  CAPACITY_KEY,
  POLICY_RESOURCES,
  addCapacity,
  amountOf,
  fitsWithin,
  formatNumber,
  scaleCapacity,
  subtractCapacity,
  zeroCapacity,
} from './capacity.js';
import type {
  Capacity,
  ForecastSummary,
  HostData,
  PairView,
  Resource,
  ScalingAction,
  ScalingDecision,
  ScalingMemory,
  ScalingPolicy,
  WorkloadData,
} from './types.js';

export interface ScalingInput {
  pair: PairView;
  forecast: ForecastSummary;
  policy: ScalingPolicy;
  memory: ScalingMemory;
  /** Epoch ms of this decision (the workflow's clock). */
  now: number;
}

const MINUTE_MS = 60_000;

/** Shadow statuses from which a shadow can take workloads now. */
const USABLE_SHADOW_STATUSES = new Set<HostData['status']>(['inactive', 'active']);

/** Every fault of a scaling policy, one sentence each; empty when the policy is valid (for update validators). */
export function validateScalingPolicy(policy: ScalingPolicy): string[] {
  const faults: string[] = [];
  const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
  if (!finite(policy.thresholdPercent) || policy.thresholdPercent <= 0 || policy.thresholdPercent > 100)
    faults.push(`thresholdPercent is ${String(policy.thresholdPercent)}; it must be in (0, 100]`);
  if (!finite(policy.hysteresisPercent) || policy.hysteresisPercent < 0)
    faults.push(`hysteresisPercent is ${String(policy.hysteresisPercent)}; it must be a number >= 0`);
  else if (finite(policy.thresholdPercent) && policy.hysteresisPercent >= policy.thresholdPercent)
    faults.push(
      `hysteresisPercent ${policy.hysteresisPercent} must be below thresholdPercent ${policy.thresholdPercent}, or nothing could ever scale back`,
    );
  if (!Array.isArray(policy.horizonsMinutes) || policy.horizonsMinutes.length === 0)
    faults.push('horizonsMinutes is empty; give at least one forecast horizon, e.g. [15]');
  else
    for (const horizon of policy.horizonsMinutes)
      if (!finite(horizon) || horizon <= 0)
        faults.push(`horizonsMinutes contains ${String(horizon)}; every horizon must be a positive number of minutes`);
  if (!finite(policy.scaleBackAfterMinutes) || policy.scaleBackAfterMinutes < 0)
    faults.push(`scaleBackAfterMinutes is ${String(policy.scaleBackAfterMinutes)}; it must be a number >= 0`);
  if (!finite(policy.cooldownMinutes) || policy.cooldownMinutes < 0)
    faults.push(`cooldownMinutes is ${String(policy.cooldownMinutes)}; it must be a number >= 0`);
  if (!finite(policy.shadowFraction) || policy.shadowFraction <= 0 || policy.shadowFraction > 1)
    faults.push(`shadowFraction is ${String(policy.shadowFraction)}; it must be in (0, 1], e.g. 0.15`);
  if (typeof policy.forecastOnly !== 'boolean')
    faults.push(`forecastOnly is ${String(policy.forecastOnly)}; it must be true or false`);
  return faults;
}

interface BindingPeak {
  resource: Resource;
  peakPercent: number;
  horizonMinutes: number;
  peakAt: number;
}

/**
 * The highest peak among the policy's horizons (ties: resource order cpu, memory, storage, network, then the
 * shorter horizon, so the same forecast always names the same binding resource). Undefined when the forecast has
 * no finite peak for any of the horizons.
 */
export function bindingPeak(forecast: ForecastSummary, horizonsMinutes: readonly number[]): BindingPeak | undefined {
  const wanted = new Set(horizonsMinutes);
  let best: BindingPeak | undefined;
  for (const peak of forecast.peaks) {
    if (!wanted.has(peak.horizonMinutes) || !Number.isFinite(peak.peakPercent)) continue;
    if (!POLICY_RESOURCES.includes(peak.resource)) continue;
    const better =
      best === undefined ||
      peak.peakPercent > best.peakPercent ||
      (peak.peakPercent === best.peakPercent &&
        (POLICY_RESOURCES.indexOf(peak.resource) < POLICY_RESOURCES.indexOf(best.resource) ||
          (peak.resource === best.resource && peak.horizonMinutes < best.horizonMinutes)));
    if (better) best = { ...peak };
  }
  return best;
}

/**
 * Each workload's share of the primary's load of one resource, as fractions summing to 1.
 *
 * A workload's own utilisation is used when the workload reports it; the rest of the host's utilisation is
 * apportioned among the other workloads in proportion to their requirement of the resource. Without any
 * utilisation at all the requirements alone decide. Scaling the forecast peak by these fractions assumes the
 * forecast's growth is spread over the workloads as today's load is, the best a per-host forecast can say.
 */
export function workloadLoadShares(
  host: HostData,
  workloads: readonly WorkloadData[],
  resource: Resource,
): Map<string, number> {
  const explicit = new Map<string, number>();
  const implicit: WorkloadData[] = [];
  for (const w of workloads) {
    const own = w.utilisation?.[resource];
    if (typeof own === 'number' && Number.isFinite(own) && own >= 0) explicit.set(w.workloadId, own);
    else implicit.push(w);
  }
  const requirement = (w: WorkloadData): number => Math.max(0, amountOf(w.resourceRequirements, resource));
  const implicitRequirement = implicit.reduce((sum, w) => sum + requirement(w), 0);
  const hostUtilisation = host.utilisation?.[resource];
  const explicitTotal = [...explicit.values()].reduce((a, b) => a + b, 0);

  const loads = new Map<string, number>(explicit);
  for (const w of implicit) {
    let load: number;
    if (typeof hostUtilisation === 'number' && Number.isFinite(hostUtilisation)) {
      const remainder = Math.max(0, hostUtilisation - explicitTotal);
      load = implicitRequirement > 0 ? (remainder * requirement(w)) / implicitRequirement : remainder / implicit.length;
    } else {
      // No measurement: assume the workload uses what it reserved.
      const capacity = amountOf(host.capacity, resource);
      load = capacity > 0 ? (100 * requirement(w)) / capacity : 0;
    }
    loads.set(w.workloadId, load);
  }

  const total = [...loads.values()].reduce((a, b) => a + b, 0);
  const shares = new Map<string, number>();
  for (const w of workloads) {
    shares.set(w.workloadId, total > 0 ? (loads.get(w.workloadId) ?? 0) / total : 1 / workloads.length);
  }
  return shares;
}

export interface PackingResult {
  /** The workloads to move, in the order they were picked. */
  workloadIds: string[];
  /** The binding resource's predicted peak on the primary once they have moved. */
  predictedPeakAfter: number;
  /** Whether the moves bring the peak down to the target. */
  reachesTarget: boolean;
}

/**
 * Chooses which of the primary's workloads to move so that its predicted peak of the binding resource drops to at
 * most `targetPercent`, each move fitting (by requirements, every resource) in `room` on the receiving host.
 *
 * First-fit decreasing: candidates in decreasing order of their share of the binding resource (the biggest
 * contributors first, so the fewest moves reach the target), ties by requirement then id; each one that still fits
 * is taken until the target is reached. Because each pick was needed when it was taken and later picks are no larger,
 * the set is minimal: removing any member would miss the target. It may overshoot the target, which is deliberate:
 * the bigger movers leave the primary more headroom against the forecast's error, for the same number of moves.
 */
export function packWorkloads(args: {
  primary: HostData;
  candidates: readonly WorkloadData[];
  residents: readonly WorkloadData[];
  resource: Resource;
  peakPercent: number;
  targetPercent: number;
  room: Capacity;
}): PackingResult {
  const { primary, candidates, residents, resource, peakPercent, targetPercent, room } = args;
  const shares = workloadLoadShares(primary, residents, resource);
  const share = (w: WorkloadData): number => shares.get(w.workloadId) ?? 0;
  const ordered = [...candidates].sort(
    (a, b) =>
      share(b) - share(a) ||
      amountOf(b.resourceRequirements, resource) - amountOf(a.resourceRequirements, resource) ||
      (a.workloadId < b.workloadId ? -1 : a.workloadId > b.workloadId ? 1 : 0),
  );

  const peakAfter = (picked: readonly WorkloadData[]): number =>
    peakPercent * Math.max(0, 1 - picked.reduce((sum, w) => sum + share(w), 0));

  const picked: WorkloadData[] = [];
  let used = zeroCapacity();
  for (const w of ordered) {
    if (peakAfter(picked) <= targetPercent) break;
    if (share(w) <= 0) continue;
    const next = addCapacity(used, w.resourceRequirements);
    if (!fitsWithin(next, room)) continue;
    picked.push(w);
    used = next;
  }

  const predictedPeakAfter = peakAfter(picked);
  return {
    workloadIds: picked.map((w) => w.workloadId),
    predictedPeakAfter,
    reachesTarget: predictedPeakAfter <= targetPercent,
  };
}

const isoTime = (epochMs: number): string => new Date(epochMs).toISOString().replace(/\.000Z$/, 'Z');

const listIds = (ids: readonly string[]): string => (ids.length === 0 ? 'no workloads' : ids.join(', '));

/** Decides what to do about one host pair on one tick. Never throws: a bad policy or forecast gives a `none`. */
export function decideScaling(input: ScalingInput): ScalingDecision {
  const { pair, forecast, policy, memory, now } = input;
  const none = (reason: string, nextMemory: ScalingMemory, extra: Partial<ScalingDecision> = {}): ScalingDecision => ({
    action: { kind: 'none' },
    reason,
    execute: false,
    memory: nextMemory,
    ...extra,
  });

  const policyFaults = validateScalingPolicy(policy);
  if (policyFaults.length > 0)
    return none(`Invalid scaling policy, taking no action: ${policyFaults.join('; ')}.`, memory);
  if (!Number.isFinite(now)) return none(`Invalid decision time ${String(now)}, taking no action.`, memory);

  const binding = bindingPeak(forecast, policy.horizonsMinutes);
  if (binding === undefined) {
    const offered = [...new Set(forecast.peaks.map((p) => p.horizonMinutes))].sort((a, b) => a - b);
    return none(
      `No forecast peak for the policy's horizons (${policy.horizonsMinutes.join(', ')} min; the forecast has ${offered.length > 0 ? offered.join(', ') + ' min' : 'none'}), taking no action.`,
      memory,
    );
  }

  const threshold = policy.thresholdPercent;
  const lowLine = threshold - policy.hysteresisPercent;
  const wanted = new Set(policy.horizonsMinutes);
  const relevantPeaks = forecast.peaks.filter((p) => wanted.has(p.horizonMinutes) && Number.isFinite(p.peakPercent));
  const allLow = relevantPeaks.every((p) => p.peakPercent < lowLine);
  const isHigh = binding.peakPercent > threshold;
  const spikeOnly = forecast.isolatedSpike === true;

  // Hysteresis state. A tick whose only excess is an isolated spike leaves it as it was: the spike must not move the
  // decision, neither by scaling out nor by resetting the low streak that leads to a scale-back.
  const nextMemory: ScalingMemory = { ...memory };
  if (allLow) nextMemory.lowSince = memory.lowSince ?? now;
  else if (!spikeOnly) delete nextMemory.lowSince;
  if (isHigh && !spikeOnly) nextMemory.highSince = now;

  const peakText = `${binding.resource} forecast peaks at ${formatNumber(binding.peakPercent)}% within ${formatNumber(binding.horizonMinutes)} min`;
  const context = { bindingResource: binding.resource, peakPercent: binding.peakPercent };

  let action: ScalingAction;
  let why: string;
  if (isHigh) {
    if (spikeOnly)
      return none(
        `${peakText} (threshold ${formatNumber(threshold)}%), but the anomaly check calls it an isolated spike: not scaling out on it.`,
        nextMemory,
        context,
      );
    ({ action, why } = scaleOut(pair, binding, threshold, lowLine));
    why = `${peakText} (threshold ${formatNumber(threshold)}%): ${why}`;
  } else if (allLow) {
    const lowSince = nextMemory.lowSince ?? now;
    const lowForMinutes = (now - lowSince) / MINUTE_MS;
    const shadow = pair.shadow;
    const moved = pair.movedToShadow;
    const lowText = `every forecast peak is below ${formatNumber(lowLine)}% (highest: ${binding.resource} ${formatNumber(binding.peakPercent)}%)`;
    if (shadow === undefined || shadow.status !== 'active' || moved.length === 0)
      return none(
        `${capitalise(lowText)}; the shadow holds no moved workloads, nothing to scale back.`,
        nextMemory,
        context,
      );
    if (lowForMinutes < policy.scaleBackAfterMinutes)
      return none(
        `${capitalise(lowText)} since ${isoTime(lowSince)}; scale back once that has held for ${formatNumber(policy.scaleBackAfterMinutes)} min (at ${isoTime(lowSince + policy.scaleBackAfterMinutes * MINUTE_MS)}).`,
        nextMemory,
        context,
      );
    const returning = scaleBackLoad(pair, relevantPeaks);
    if (returning !== undefined && returning.peakAfter >= lowLine)
      return none(
        `${capitalise(lowText)}, but moving ${listIds(moved)} home would bring ${returning.resource} to about ${formatNumber(returning.peakAfter)}%: staying scaled out.`,
        nextMemory,
        context,
      );
    action = { kind: 'scale-back', workloadIds: [...moved], allocationFraction: policy.shadowFraction };
    why = `${capitalise(lowText)} for ${formatNumber(lowForMinutes)} min: scale back, moving ${listIds(moved)} home from ${shadow.hostId} and returning it to ${formatNumber(policy.shadowFraction * 100)}% standby`;
  } else {
    return none(
      `${peakText}, between ${formatNumber(lowLine)}% and the ${formatNumber(threshold)}% threshold: holding steady (hysteresis band).`,
      nextMemory,
      context,
    );
  }

  if (action.kind === 'none') return none(`${why}.`, nextMemory, context);

  const cooldownEnds =
    memory.lastActionAt === undefined ? undefined : memory.lastActionAt + policy.cooldownMinutes * MINUTE_MS;
  if (cooldownEnds !== undefined && now < cooldownEnds)
    return {
      action,
      reason: `${why}, but in cooldown until ${isoTime(cooldownEnds)} (last action ${isoTime(memory.lastActionAt ?? now)}), so not acting yet.`,
      execute: false,
      memory: nextMemory,
      ...context,
    };

  // Forecast-only mode advances the clock of the last action too, so the recorded decisions keep the cadence the
  // real ones would have.
  nextMemory.lastActionAt = now;
  return {
    action,
    reason: policy.forecastOnly ? `${why}; forecast-only mode: recorded, not executed.` : `${why}.`,
    execute: !policy.forecastOnly,
    memory: nextMemory,
    ...context,
  };
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** The scale-out branches of the pseudocode, for a binding peak above the threshold. */
function scaleOut(
  pair: PairView,
  binding: BindingPeak,
  threshold: number,
  targetPercent: number,
): { action: ScalingAction; why: string } {
  const { primary, shadow } = pair;
  const moved = new Set(pair.movedToShadow);
  const residents = pair.workloads.filter((w) => w.hostId === primary.hostId && !moved.has(w.workloadId));
  const packingArgs = {
    primary,
    candidates: residents,
    residents,
    resource: binding.resource,
    peakPercent: binding.peakPercent,
    targetPercent,
  };

  const provision = (because: string): { action: ScalingAction; why: string } => {
    const packing = packWorkloads({ ...packingArgs, room: primary.capacity });
    const note = packing.reachesTarget
      ? ''
      : ` (even that leaves it near ${formatNumber(packing.predictedPeakAfter)}%, above the ${formatNumber(targetPercent)}% target)`;
    return {
      action: { kind: 'provision-primary', capacity: { ...primary.capacity }, workloadIds: packing.workloadIds },
      why: `${because}, so provision a new primary the size of ${primary.hostId} and move ${listIds(packing.workloadIds)} to it${note}`,
    };
  };

  if (residents.length === 0)
    return {
      action: { kind: 'none' },
      why: `${primary.hostId} holds no workloads that could move; nothing to do`,
    };
  if (shadow === undefined) return provision('there is no shadow (a replacement is pending)');
  if (!USABLE_SHADOW_STATUSES.has(shadow.status))
    return provision(`shadow ${shadow.hostId} is ${shadow.status} and cannot take workloads`);

  // Workloads already on the shadow keep their room there.
  const onShadow = pair.workloads.filter((w) => moved.has(w.workloadId) || w.hostId === shadow.hostId);
  const shadowLoad = onShadow.reduce((sum, w) => addCapacity(sum, w.resourceRequirements), zeroCapacity());
  const fullRoom = subtractCapacity(scaleCapacity(shadow.capacity, 1), shadowLoad);
  const packing = packWorkloads({ ...packingArgs, room: fullRoom });
  const target = `${formatNumber(targetPercent)}%`;
  if (!packing.reachesTarget)
    return provision(
      `even at full size shadow ${shadow.hostId} cannot take enough workloads to bring ${binding.resource} below ${target}`,
    );

  if (shadow.status === 'inactive')
    return {
      action: { kind: 'activate-shadow-and-migrate', allocationFraction: 1, workloadIds: packing.workloadIds },
      why: `activate shadow ${shadow.hostId} and move ${listIds(packing.workloadIds)} (predicted ${binding.resource} after: ${formatNumber(packing.predictedPeakAfter)}%)`,
    };
  const grow = shadow.allocationFraction < 1;
  return {
    action: { kind: 'scale-up-shadow', allocationFraction: 1, workloadIds: packing.workloadIds },
    why: grow
      ? `scale active shadow ${shadow.hostId} up from ${formatNumber(shadow.allocationFraction * 100)}% to full size and move ${listIds(packing.workloadIds)} (predicted ${binding.resource} after: ${formatNumber(packing.predictedPeakAfter)}%)`
      : `active shadow ${shadow.hostId} is already at full size; move ${listIds(packing.workloadIds)} to it (predicted ${binding.resource} after: ${formatNumber(packing.predictedPeakAfter)}%)`,
  };
}

/**
 * What moving the shadow's workloads home would add to the primary's forecast, when the moved workloads report their
 * utilisation (percent of the shadow's capacity, converted to the primary's). Undefined when they do not: then the
 * sustained-low rule alone decides.
 */
function scaleBackLoad(
  pair: PairView,
  peaks: readonly { resource: Resource; peakPercent: number }[],
): { resource: Resource; peakAfter: number } | undefined {
  const { primary, shadow } = pair;
  if (shadow === undefined) return undefined;
  const moved = new Set(pair.movedToShadow);
  const movedWorkloads = pair.workloads.filter((w) => moved.has(w.workloadId));
  let worst: { resource: Resource; peakAfter: number } | undefined;
  for (const resource of POLICY_RESOURCES) {
    const known = movedWorkloads.map((w) => w.utilisation?.[resource]);
    if (known.length === 0 || known.some((u) => typeof u !== 'number' || !Number.isFinite(u))) continue;
    const key = CAPACITY_KEY[resource];
    const ratio = primary.capacity[key] > 0 ? shadow.capacity[key] / primary.capacity[key] : 1;
    const added = (known as number[]).reduce((a, b) => a + b, 0) * ratio;
    const peak = Math.max(0, ...peaks.filter((p) => p.resource === resource).map((p) => p.peakPercent));
    const peakAfter = peak + added;
    if (worst === undefined || peakAfter > worst.peakAfter) worst = { resource, peakAfter };
  }
  return worst;
}
