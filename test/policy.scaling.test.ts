import { describe, expect, it } from 'vitest';
import {
  bindingPeak,
  decideScaling,
  packWorkloads,
  SPIKE_RECURRENCE_MINUTES,
  validateScalingPolicy,
  workloadLoadShares,
  type Capacity,
  type ForecastSummary,
  type HostData,
  type PairView,
  type Resource,
  type ScalingInput,
  type ScalingPolicy,
  type WorkloadData,
} from '../src/policy/index.js';

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);

const HOST: Capacity = { cpuCores: 32, memoryGiB: 128, storageIops: 10_000, networkMbps: 10_000 };

const policy = (overrides: Partial<ScalingPolicy> = {}): ScalingPolicy => ({
  thresholdPercent: 80,
  hysteresisPercent: 10,
  scaleBackAfterMinutes: 30,
  horizonsMinutes: [15],
  cooldownMinutes: 10,
  shadowFraction: 0.15,
  forecastOnly: false,
  ...overrides,
});

const workload = (id: string, cpuShare: number, req: Partial<Capacity> = {}, hostId = 'h-1'): WorkloadData => ({
  workloadId: id,
  hostId,
  resourceRequirements: { cpuCores: 4, memoryGiB: 16, storageIops: 500, networkMbps: 500, ...req },
  utilisation: { cpu: cpuShare },
});

const primary = (overrides: Partial<HostData> = {}): HostData => ({
  hostId: 'h-1',
  region: 'eu-west',
  zone: 'eu-west-a',
  role: 'primary',
  status: 'active',
  capacity: HOST,
  allocationFraction: 1,
  utilisation: { cpu: 60, memory: 40, storage: 20, network: 10 },
  ...overrides,
});

const shadow = (overrides: Partial<HostData> = {}): HostData => ({
  hostId: 'h-7',
  region: 'us-east',
  zone: 'us-east-b',
  role: 'shadow',
  status: 'inactive',
  capacity: HOST,
  allocationFraction: 0.15,
  ...overrides,
});

/** w-1..w-4 hold 30, 15, 10 and 5 points of the primary's 60% cpu. */
const pair = (overrides: Partial<PairView> = {}): PairView => ({
  pairId: 'p-1',
  primary: primary(),
  shadow: shadow(),
  workloads: [workload('w-1', 30), workload('w-2', 15), workload('w-3', 10), workload('w-4', 5)],
  movedToShadow: [],
  ...overrides,
});

const forecast = (peaks: Partial<Record<Resource, number>>, extra: Partial<ForecastSummary> = {}): ForecastSummary => ({
  issuedAt: NOW,
  peaks: Object.entries(peaks).map(([resource, peakPercent]) => ({
    horizonMinutes: 15,
    resource: resource as Resource,
    peakPercent,
    peakAt: NOW + 10 * MINUTE,
  })),
  ...extra,
});

const decide = (overrides: Partial<ScalingInput> = {}) =>
  decideScaling({
    pair: pair(),
    forecast: forecast({ cpu: 91.2, memory: 50 }),
    policy: policy(),
    memory: {},
    now: NOW,
    ...overrides,
  });

describe('decideScaling: the pseudocode branches', () => {
  it('activates an inactive shadow at full size and moves the fewest workloads that bring the peak under the band', () => {
    const decision = decide();
    // 91.2% × (1 − 30/60) = 45.6% ≤ 70%: moving w-1 alone is enough. The shadow (same size as the primary) then
    // carries 45.6% of a host, which it holds under its 60% target (a hysteresis band below the primary's) at
    // 45.6 / 60 = 76%, rounded up to 80%.
    expect(decision.action).toEqual({
      kind: 'activate-shadow-and-migrate',
      allocationFraction: 0.8,
      workloadIds: ['w-1'],
    });
    expect(decision.execute).toBe(true);
    expect(decision.bindingResource).toBe('cpu');
    expect(decision.peakPercent).toBeCloseTo(91.2);
    expect(decision.reason).toContain('cpu forecast peaks at 91.2% within 15 min (threshold 80%)');
    expect(decision.reason).toContain('activate shadow h-7 at 80% and move w-1');
    expect(decision.memory.lastActionAt).toBe(NOW);
    expect(decision.memory.highSince).toBe(NOW);
  });

  it('scales up an already active shadow that is below full size, moving more workloads', () => {
    const decision = decide({
      pair: pair({
        shadow: shadow({ status: 'active', allocationFraction: 0.5 }),
        workloads: [workload('w-1', 0, {}, 'h-7'), workload('w-2', 15), workload('w-3', 10), workload('w-4', 5)],
        movedToShadow: ['w-1'],
        primary: primary({ utilisation: { cpu: 30, memory: 20, storage: 10, network: 5 } }),
      }),
      forecast: forecast({ cpu: 85 }),
    });
    // Residents w-2, w-3, w-4 carry 15/30, 10/30, 5/30 of the load; 85 × 0.5 = 42.5 ≤ 70 with w-2 alone. The shadow
    // then carries 42.5% of a host (w-1 measures nothing there): 42.5 / 60 = 70.8%, rounded up to 75%.
    expect(decision.action).toEqual({ kind: 'scale-up-shadow', allocationFraction: 0.75, workloadIds: ['w-2'] });
    expect(decision.reason).toContain('scale active shadow h-7 up from 50% to 75%');
  });

  it('provisions a new primary the size of the old one when there is no shadow', () => {
    const decision = decide({ pair: pair({ shadow: undefined }) });
    expect(decision.action.kind).toBe('provision-primary');
    if (decision.action.kind !== 'provision-primary') return;
    expect(decision.action.capacity).toEqual(HOST);
    expect(decision.action.workloadIds).toEqual(['w-1']);
    expect(decision.reason).toContain('there is no shadow');
  });

  it('provisions a new primary when the shadow failed', () => {
    const decision = decide({ pair: pair({ shadow: shadow({ status: 'failed' }) }) });
    expect(decision.action.kind).toBe('provision-primary');
    expect(decision.reason).toContain('shadow h-7 is failed');
  });

  it('provisions a new primary when even a full-size shadow cannot take enough workloads', () => {
    // The shadow already holds a workload reserving almost all of its memory: nothing else fits.
    const full = (measuredCpu: number): PairView =>
      pair({
        primary: primary({ utilisation: { cpu: measuredCpu, memory: 40, storage: 20, network: 10 } }),
        shadow: shadow({ status: 'active', allocationFraction: 1 }),
        workloads: [
          workload('w-0', 0, { memoryGiB: 120 }, 'h-7'),
          workload('w-1', 30),
          workload('w-2', 15),
          workload('w-3', 10),
          workload('w-4', 5),
        ],
        movedToShadow: ['w-0'],
      });
    const decision = decide({ pair: full(85) });
    expect(decision.action.kind).toBe('provision-primary');
    expect(decision.reason).toContain('even at full size shadow h-7 cannot take enough workloads');

    // The same forecast while the primary measures under the threshold: a host for good waits for the measurement.
    const waiting = decide({ pair: full(60) });
    expect(waiting.action.kind).toBe('none');
    expect(waiting.reason).toContain('but h-1 measures cpu 60% now');
    expect(waiting.reason).toContain('provisioned only once the primary measures above the 80% threshold');
  });

  it('provisions on the point forecast when the primary reports no utilisation, never on the upper bound alone', () => {
    const unmeasured: PairView = pair({
      primary: primary({ utilisation: undefined }),
      shadow: shadow({ status: 'active', allocationFraction: 1 }),
      workloads: [workload('w-0', 0, { memoryGiB: 120 }, 'h-7'), workload('w-1', 30), workload('w-2', 15)],
      movedToShadow: ['w-0'],
    });
    const upper = (point: number, upperPercent: number): ForecastSummary => ({
      ...forecast({ cpu: point }),
      peaks: [{ horizonMinutes: 15, resource: 'cpu', peakPercent: point, upperPercent, peakAt: NOW + 15 * MINUTE }],
    });
    const onUpper = decide({ pair: unmeasured, forecast: upper(70, 95), policy: policy({ scaleOutOn: 'upper' }) });
    expect(onUpper.action.kind).toBe('none');
    expect(onUpper.reason).toContain('but the point forecast peaks at 70% cpu');
    const onPoint = decide({ pair: unmeasured, forecast: upper(90, 110), policy: policy({ scaleOutOn: 'upper' }) });
    expect(onPoint.action.kind).toBe('provision-primary');
  });
});

describe('decideScaling: bin packing', () => {
  it('skips a workload that does not fit the shadow and takes the next biggest contributor', () => {
    const decision = decide({
      pair: pair({
        shadow: shadow({ capacity: { ...HOST, memoryGiB: 32 } }),
        workloads: [
          workload('w-1', 30, { memoryGiB: 64 }),
          workload('w-2', 15),
          workload('w-3', 10),
          workload('w-4', 5),
        ],
      }),
    });
    // Without w-1 (too big for a 32 GiB shadow) the target 70% needs ≥ 23.3% of the load: w-2 (25%) suffices.
    expect(decision.action).toMatchObject({ kind: 'activate-shadow-and-migrate', workloadIds: ['w-2'] });
  });

  it('moves several workloads when one is not enough, and never more than needed', () => {
    const decision = decide({ forecast: forecast({ cpu: 200 }) });
    // 200% needs ≥ 65% of the load moved to reach 70%: w-1 (50%) + w-2 (25%).
    expect(decision.action).toMatchObject({ workloadIds: ['w-1', 'w-2'] });
  });

  it('gives a minimal set: removing any chosen workload would miss the target', () => {
    const residents = [
      workload('a', 20, { memoryGiB: 40 }),
      workload('b', 18),
      workload('c', 12),
      workload('d', 6),
      workload('e', 4),
    ];
    const host = primary({ utilisation: { cpu: 60, memory: 0, storage: 0, network: 0 } });
    const room: Capacity = { ...HOST, memoryGiB: 36 };
    const result = packWorkloads({
      primary: host,
      candidates: residents,
      residents,
      resource: 'cpu',
      peakPercent: 120,
      targetPercent: 70,
      room,
    });
    expect(result.reachesTarget).toBe(true);
    expect(result.workloadIds).not.toContain('a');
    const shares = workloadLoadShares(host, residents, 'cpu');
    const after = (ids: string[]) => 120 * (1 - ids.reduce((s, id) => s + (shares.get(id) ?? 0), 0));
    expect(after(result.workloadIds)).toBeLessThanOrEqual(70);
    for (const id of result.workloadIds) expect(after(result.workloadIds.filter((x) => x !== id))).toBeGreaterThan(70);
  });

  it('apportions the host utilisation by requirements when workloads report none', () => {
    const host = primary({ utilisation: { cpu: 60, memory: 0, storage: 0, network: 0 } });
    const bare = (id: string, cpuCores: number): WorkloadData => ({
      workloadId: id,
      hostId: 'h-1',
      resourceRequirements: { cpuCores, memoryGiB: 8, storageIops: 100, networkMbps: 100 },
    });
    const shares = workloadLoadShares(
      host,
      [bare('x', 6), bare('y', 2), { ...bare('z', 8), utilisation: { cpu: 20 } }],
      'cpu',
    );
    // z reports 20 of 60 points; x and y share the other 40 as 6:2.
    expect(shares.get('z')).toBeCloseTo(20 / 60);
    expect(shares.get('x')).toBeCloseTo(30 / 60);
    expect(shares.get('y')).toBeCloseTo(10 / 60);
  });
});

describe('decideScaling: hysteresis, cooldown, scale-back', () => {
  it('does nothing in the band between threshold − hysteresis and the threshold', () => {
    for (const peak of [70, 75, 80]) {
      const decision = decide({
        forecast: forecast({ cpu: peak }),
        pair: pair({ shadow: shadow({ status: 'active', allocationFraction: 1 }), movedToShadow: ['w-1'] }),
        memory: { lowSince: NOW - 60 * MINUTE },
      });
      expect(decision.action).toEqual({ kind: 'none' });
      expect(decision.reason).toContain('hysteresis band');
      // The low streak is broken: scale-back starts counting again from the next low forecast.
      expect(decision.memory.lowSince).toBeUndefined();
    }
  });

  it('records but does not execute an action within the cooldown, saying until when', () => {
    const decision = decide({ memory: { lastActionAt: NOW - 4 * MINUTE } });
    expect(decision.action.kind).toBe('activate-shadow-and-migrate');
    expect(decision.execute).toBe(false);
    expect(decision.reason).toContain('cooldown until 2026-11-28T12:06:00Z');
    expect(decision.memory.lastActionAt).toBe(NOW - 4 * MINUTE);
  });

  it('acts again once the cooldown is over', () => {
    const decision = decide({ memory: { lastActionAt: NOW - 10 * MINUTE } });
    expect(decision.execute).toBe(true);
    expect(decision.memory.lastActionAt).toBe(NOW);
  });

  const scaledOut = () =>
    pair({
      shadow: shadow({ status: 'active', allocationFraction: 1 }),
      workloads: [workload('w-1', 0, {}, 'h-7'), workload('w-2', 15), workload('w-3', 10), workload('w-4', 5)],
      movedToShadow: ['w-1'],
    });

  it('scales back only after every peak has stayed low for scaleBackAfterMinutes', () => {
    const low = forecast({ cpu: 40, memory: 30 });
    let memory = {};
    const actions: string[] = [];
    for (let minute = 0; minute <= 40; minute += 5) {
      const decision = decideScaling({
        pair: scaledOut(),
        forecast: low,
        policy: policy(),
        memory,
        now: NOW + minute * MINUTE,
      });
      actions.push(`${decision.action.kind}${decision.execute ? '!' : ''}`);
      memory = decision.memory;
    }
    // Low since minute 0; the 30-minute streak is complete at minute 30. The view is not updated here, so the next
    // ticks would scale back again: recorded only within the 10-minute cooldown (minute 35), executed after it (40).
    expect(actions).toEqual([
      'none',
      'none',
      'none',
      'none',
      'none',
      'none',
      'scale-back!',
      'scale-back',
      'scale-back!',
    ]);
    const last = decideScaling({
      pair: scaledOut(),
      forecast: low,
      policy: policy(),
      memory: { lowSince: NOW },
      now: NOW + 30 * MINUTE,
    });
    expect(last.action).toEqual({ kind: 'scale-back', workloadIds: ['w-1'], allocationFraction: 0.15 });
    expect(last.reason).toMatch(/scale back, moving w-1 home from h-7/);
  });

  it('restarts the scale-back clock when one forecast in the streak is not low', () => {
    const policyNow = policy({ cooldownMinutes: 0 });
    const step = (peak: number, minute: number, memory: object) =>
      decideScaling({
        pair: scaledOut(),
        forecast: forecast({ cpu: peak }),
        policy: policyNow,
        memory,
        now: NOW + minute * MINUTE,
      });
    let d = step(40, 0, {});
    d = step(40, 20, d.memory);
    d = step(72, 25, d.memory); // in the band: streak broken
    d = step(40, 30, d.memory);
    expect(d.action.kind).toBe('none');
    expect(d.memory.lowSince).toBe(NOW + 30 * MINUTE);
    d = step(40, 60, d.memory);
    expect(d.action.kind).toBe('scale-back');
  });

  it('does not scale back during a spike the shadow absorbs, and does once the pair is low again', () => {
    // The low streak has held for two hours. The pair's whole demand jumps to 100% for a step, which the forecast
    // calls an isolated spike; the primary alone, relieved of w-1, still reads 60%.
    const spiking = forecast({ cpu: 40 }, { isolatedSpike: true, pairNow: [{ resource: 'cpu', percent: 100 }] });
    const during = decideScaling({
      pair: scaledOut(),
      forecast: spiking,
      policy: policy(),
      memory: { lowSince: NOW - 120 * MINUTE },
      now: NOW,
    });
    expect(during.action.kind).toBe('none');
    expect(during.reason).toMatch(/whole demand is at 100% cpu now: not scaling back/);
    // The spike keeps the low streak, so the next low step scales back at once.
    expect(during.memory.lowSince).toBe(NOW - 120 * MINUTE);
    const after = decideScaling({
      pair: scaledOut(),
      forecast: forecast({ cpu: 40 }, { pairNow: [{ resource: 'cpu', percent: 45 }] }),
      policy: policy(),
      memory: during.memory,
      now: NOW + 5 * MINUTE,
    });
    expect(after.action.kind).toBe('scale-back');
  });

  it('does not scale back when a low peak is on a resource other than the binding one but another horizon is high', () => {
    const d = decideScaling({
      pair: scaledOut(),
      forecast: {
        issuedAt: NOW,
        peaks: [
          { horizonMinutes: 15, resource: 'cpu', peakPercent: 40, peakAt: NOW },
          { horizonMinutes: 60, resource: 'cpu', peakPercent: 75, peakAt: NOW },
        ],
      },
      policy: policy({ horizonsMinutes: [15, 60] }),
      memory: { lowSince: NOW - 120 * MINUTE },
      now: NOW,
    });
    expect(d.action.kind).toBe('none');
    expect(d.bindingResource).toBe('cpu');
    expect(d.peakPercent).toBe(75);
  });

  /** Low for two hours at a 40% forecast, with w-1 (45% of the shadow as it is sized) moved there. */
  const decideScaleBackWithShadowAt = (allocationFraction: number) =>
    decideScaling({
      pair: pair({
        shadow: shadow({ status: 'active', allocationFraction }),
        workloads: [workload('w-1', 45, {}, 'h-7'), workload('w-2', 15)],
        movedToShadow: ['w-1'],
      }),
      forecast: forecast({ cpu: 40 }),
      policy: policy(),
      memory: { lowSince: NOW - 120 * MINUTE },
      now: NOW,
    });

  it('does not scale back when moving the workloads home would push the primary back over the band', () => {
    const d = decideScaleBackWithShadowAt(1);
    expect(d.action.kind).toBe('none');
    expect(d.reason).toContain('would bring cpu to about 85%');
  });

  it("converts the moved workloads' load with the shadow's allocation: 45% of a half-size shadow comes home as 22.5%", () => {
    const d = decideScaleBackWithShadowAt(0.5);
    expect(d.action).toMatchObject({ kind: 'scale-back', workloadIds: ['w-1'] });
  });

  it('has nothing to scale back when the shadow holds no moved workloads', () => {
    const d = decide({ forecast: forecast({ cpu: 30 }), memory: { lowSince: NOW - 120 * MINUTE } });
    expect(d.action.kind).toBe('none');
    expect(d.reason).toContain('nothing to scale back');
  });
});

describe('decideScaling: spikes, forecast-only, bad input', () => {
  it('does not scale out on an isolated spike, and says so', () => {
    const d = decide({ forecast: forecast({ cpu: 97 }, { isolatedSpike: true }), memory: { lowSince: NOW - MINUTE } });
    expect(d.action.kind).toBe('none');
    expect(d.execute).toBe(false);
    expect(d.reason).toContain('isolated spike');
    expect(d.memory.lastActionAt).toBeUndefined();
    // Nor does the spike break a low streak.
    expect(d.memory.lowSince).toBe(NOW - MINUTE);
  });

  it('scales out on a spike that recurs within the recurrence window, and holds one that comes later', () => {
    const spike = forecast({ cpu: 97 }, { isolatedSpike: true });
    const first = decide({ forecast: spike });
    expect(first.action.kind).toBe('none');
    expect(first.memory.lastSpikeAt).toBe(NOW);
    const again = decide({ forecast: spike, memory: first.memory, now: NOW + 40 * MINUTE });
    expect(again.action.kind).toBe('activate-shadow-and-migrate');
    expect(again.execute).toBe(true);
    expect(again.reason).toContain('a spike again 40 min after the last (a burst pattern');
    const late = NOW + (SPIKE_RECURRENCE_MINUTES + 1) * MINUTE;
    const alone = decide({ forecast: spike, memory: first.memory, now: late });
    expect(alone.action.kind).toBe('none');
    expect(alone.reason).toContain('isolated spike');
    expect(alone.memory.lastSpikeAt).toBe(late);
  });

  it('remembers no spike for a tick whose peak stays under the threshold', () => {
    const d = decide({ forecast: forecast({ cpu: 60 }, { isolatedSpike: true }) });
    expect(d.memory.lastSpikeAt).toBeUndefined();
  });

  it('scales out on the same peak when it is not an isolated spike', () => {
    expect(decide({ forecast: forecast({ cpu: 97 }, { isolatedSpike: false }) }).action.kind).toBe(
      'activate-shadow-and-migrate',
    );
  });

  it('records the decision in forecast-only mode without executing it, with the real cadence', () => {
    const only = policy({ forecastOnly: true });
    const first = decide({ policy: only });
    expect(first.action.kind).toBe('activate-shadow-and-migrate');
    expect(first.execute).toBe(false);
    expect(first.reason).toContain('forecast-only');
    expect(first.memory.lastActionAt).toBe(NOW);
    const second = decide({ policy: only, memory: first.memory, now: NOW + 5 * MINUTE });
    expect(second.reason).toContain('cooldown until');
    const third = decide({ policy: only, memory: second.memory, now: NOW + 10 * MINUTE });
    expect(third.memory.lastActionAt).toBe(NOW + 10 * MINUTE);
  });

  it('takes the binding resource from the highest peak over the policy horizons only', () => {
    const f: ForecastSummary = {
      issuedAt: NOW,
      peaks: [
        { horizonMinutes: 15, resource: 'cpu', peakPercent: 60, peakAt: NOW },
        { horizonMinutes: 15, resource: 'memory', peakPercent: 85, peakAt: NOW },
        { horizonMinutes: 60, resource: 'network', peakPercent: 99, peakAt: NOW },
      ],
    };
    expect(bindingPeak(f, [15])).toMatchObject({ resource: 'memory', peakPercent: 85 });
    expect(bindingPeak(f, [15, 60])).toMatchObject({ resource: 'network', horizonMinutes: 60 });
    expect(bindingPeak(f, [5])).toBeUndefined();
    const d = decide({ forecast: f });
    expect(d.bindingResource).toBe('memory');
    expect(d.reason).toContain('memory forecast peaks at 85%');
  });

  it('takes no action, with a reason, when the forecast has no peak for the horizons', () => {
    const d = decide({ policy: policy({ horizonsMinutes: [60] }) });
    expect(d.action.kind).toBe('none');
    expect(d.reason).toContain('No forecast peak for the policy');
  });

  it('names each fault of an invalid policy and takes no action on one', () => {
    expect(validateScalingPolicy(policy())).toEqual([]);
    const faults = validateScalingPolicy(policy({ thresholdPercent: 120, horizonsMinutes: [-5], shadowFraction: 0 }));
    expect(faults.join('\n')).toMatch(/thresholdPercent is 120/);
    expect(faults.join('\n')).toMatch(/horizonsMinutes contains -5/);
    expect(faults.join('\n')).toMatch(/shadowFraction is 0/);
    expect(validateScalingPolicy(policy({ scaleOutOn: 'p90' as 'upper' }))).toEqual([
      'scaleOutOn is p90; it must be "upper" or "forecast"',
    ]);
    const d = decide({ policy: policy({ thresholdPercent: 0 }) });
    expect(d.action.kind).toBe('none');
    expect(d.reason).toContain('Invalid scaling policy');
  });
});

describe("decideScaling: measured utilisation, the pair's whole demand, the shadow's own load", () => {
  const scaledOut = (shadowFraction: number): PairView =>
    pair({
      primary: primary({ utilisation: { cpu: 30, memory: 20, storage: 10, network: 5 } }),
      shadow: shadow({ status: 'active', allocationFraction: shadowFraction }),
      workloads: [workload('w-1', 40, {}, 'h-7'), workload('w-2', 15), workload('w-3', 10), workload('w-4', 5)],
      movedToShadow: ['w-1'],
    });

  it('scales out on the measured utilisation when the forecast lags a burst, and names both', () => {
    const d = decide({
      pair: pair({ primary: primary({ utilisation: { cpu: 88, memory: 40, storage: 20, network: 10 } }) }),
      forecast: forecast({ cpu: 60 }),
    });
    expect(d.action.kind).toBe('activate-shadow-and-migrate');
    expect(d.peakPercent).toBe(88);
    expect(d.reason).toContain('cpu is at 88% now, above its forecast peak of 60%');
  });

  it('answers a measured crossing even when the anomaly check calls it an isolated spike, as the shadow alone would', () => {
    const d = decide({
      pair: pair({ primary: primary({ utilisation: { cpu: 88, memory: 40, storage: 20, network: 10 } }) }),
      forecast: forecast({ cpu: 60 }, { isolatedSpike: true }),
    });
    expect(d.action.kind).toBe('activate-shadow-and-migrate');
    expect(d.reason).toContain('cpu is at 88% now');
    // The same spike seen only in the forecast, with the primary under the threshold, is held.
    const held = decide({
      pair: pair({ primary: primary({ utilisation: { cpu: 70, memory: 40, storage: 20, network: 10 } }) }),
      forecast: forecast({ cpu: 88 }, { isolatedSpike: true }),
    });
    expect(held.action.kind).toBe('none');
    expect(held.reason).toContain('isolated spike');
  });

  it("keeps a scaled-out pair out while the pair's whole demand would not fit home under the band", () => {
    const d = decide({
      pair: scaledOut(1),
      // The primary alone is forecast low (its moved load is gone), the whole pair is not.
      forecast: forecast({ cpu: 35 }, { pairPeaks: forecast({ cpu: 75 }).peaks }),
      memory: { lowSince: NOW - 120 * MINUTE },
    });
    expect(d.action.kind).toBe('none');
    expect(d.memory.lowSince).toBeUndefined();
    expect(d.reason).toContain('holding steady');
  });

  it("scales back once the pair's whole demand has stayed under the band for scaleBackAfterMinutes", () => {
    const low = { cpu: 30 };
    const whole = { pairPeaks: forecast({ cpu: 62 }).peaks };
    const first = decide({ pair: scaledOut(1), forecast: forecast(low, whole), memory: {} });
    expect(first.action.kind).toBe('none');
    expect(first.memory.lowSince).toBe(NOW);
    expect(first.reason).toContain("Every forecast peak of the pair's whole demand is below 70% (highest: cpu 62%)");
    const later = decide({
      pair: scaledOut(1),
      forecast: forecast(low, whole),
      memory: first.memory,
      now: NOW + 30 * MINUTE,
    });
    expect(later.action).toEqual({ kind: 'scale-back', workloadIds: ['w-1'], allocationFraction: 0.15 });
  });

  const withUpper = (peaks: Partial<Record<Resource, [number, number]>>): ForecastSummary['peaks'] =>
    Object.entries(peaks).map(([resource, [peakPercent, upperPercent]]) => ({
      horizonMinutes: 15,
      resource: resource as Resource,
      peakPercent,
      upperPercent,
      peakAt: NOW + 10 * MINUTE,
    }));

  it('scales out on the upper bound of the interval with scaleOutOn "upper", naming it and the point forecast', () => {
    const f: ForecastSummary = { issuedAt: NOW, peaks: withUpper({ cpu: [72, 86] }) };
    const onUpper = decide({ forecast: f, policy: policy({ scaleOutOn: 'upper' }) });
    expect(onUpper.action.kind).toBe('activate-shadow-and-migrate');
    expect(onUpper.reason).toContain(
      'cpu forecast may reach 86% within 15 min (upper bound of its interval; point forecast 72%)',
    );
    // Sized for the upper bound: the moves bring 86% under the band, not 72%.
    expect(onUpper.peakPercent).toBe(86);
    const onPoint = decide({ forecast: f, policy: policy({ scaleOutOn: 'forecast' }) });
    expect(onPoint.action.kind).toBe('none');
    expect(onPoint.reason).toContain('holding steady');
    // A forecast without an interval (recorded before it carried one) is judged on its point forecast.
    const old = decide({ forecast: forecast({ cpu: 72 }), policy: policy({ scaleOutOn: 'upper' }) });
    expect(old.action.kind).toBe('none');
  });

  it('scales back on the point forecast, but not while the upper bound with every workload home still crosses', () => {
    const upper = policy({ scaleOutOn: 'upper' });
    const stillCrossing: ForecastSummary = {
      issuedAt: NOW,
      peaks: withUpper({ cpu: [30, 40] }),
      pairPeaks: withUpper({ cpu: [62, 84] }),
    };
    const held = decide({
      pair: scaledOut(1),
      forecast: stillCrossing,
      policy: upper,
      memory: { lowSince: NOW - 60 * MINUTE },
    });
    expect(held.action.kind).toBe('none');
    expect(held.memory.lowSince).toBeUndefined();
    const settled: ForecastSummary = { ...stillCrossing, pairPeaks: withUpper({ cpu: [62, 78] }) };
    const back = decide({
      pair: scaledOut(1),
      forecast: settled,
      policy: upper,
      memory: { lowSince: NOW - 60 * MINUTE },
    });
    expect(back.action).toEqual({ kind: 'scale-back', workloadIds: ['w-1'], allocationFraction: 0.15 });
    expect(back.reason).toContain('(highest: cpu 62%)');
  });

  it('grows an active shadow whose own forecast load crosses the threshold, before moving anything else', () => {
    // The pair peaks at 90% of a primary, 45 of which stay home: the shadow carries 45% of a host, which at half
    // size is 90% of it. Holding it under the shadow's 60% target takes 45 / 60 = 75% of a host.
    const d = decide({
      pair: scaledOut(0.5),
      forecast: forecast({ cpu: 45 }, { pairPeaks: forecast({ cpu: 90 }).peaks }),
    });
    expect(d.action).toEqual({ kind: 'scale-up-shadow', allocationFraction: 0.75, workloadIds: [] });
    expect(d.reason).toContain('active shadow h-7 is forecast to peak at 90% cpu at 50% size');
  });

  it('grows an active shadow on what its moved workloads measure when the forecast lags their growth', () => {
    // The forecast gives the shadow 20% of a host (40% at half size); its moved workload measures 95% of that half
    // now, 47.5% of a host. Holding that under 60% takes 47.5 / 60 = 79.2% of a host, rounded up to 80%.
    const lagging = scaledOut(0.5);
    lagging.workloads[0] = workload('w-1', 95, {}, 'h-7');
    const d = decide({ pair: lagging, forecast: forecast({ cpu: 40 }, { pairPeaks: forecast({ cpu: 60 }).peaks }) });
    expect(d.action).toEqual({ kind: 'scale-up-shadow', allocationFraction: 0.8, workloadIds: [] });
    expect(d.reason).toContain('active shadow h-7 is forecast to peak at 95% cpu at 50% size');
  });

  it('uses the whole shadow before provisioning a new primary, and provisions once the shadow is at full size', () => {
    // A peak of 190%: even moving w-1 and w-2 leaves the shadow far above the threshold.
    const first = decide({ forecast: forecast({ cpu: 190 }) });
    expect(first.action.kind).toBe('activate-shadow-and-migrate');
    if (first.action.kind !== 'activate-shadow-and-migrate') return;
    expect(first.action.allocationFraction).toBe(1);
    expect(first.reason).toContain('the whole shadow first, a new primary if that is not enough');

    const moved = first.action.workloadIds;
    const next = decide({
      pair: pair({
        shadow: shadow({ status: 'active', allocationFraction: 1 }),
        workloads: pair().workloads.map((w) => (moved.includes(w.workloadId) ? { ...w, hostId: 'h-7' } : w)),
        movedToShadow: moved,
      }),
      forecast: forecast({ cpu: 120 }, { pairPeaks: forecast({ cpu: 190 }).peaks }),
    });
    // Forecast only: the primary still measures 60%, and a new primary is a host for good.
    expect(next.action.kind).toBe('none');
    expect(next.reason).toContain('a new primary, a host for good, is provisioned only once the primary measures');
    const measuredHigh = decide({
      pair: pair({
        primary: primary({ utilisation: { cpu: 95, memory: 40, storage: 20, network: 10 } }),
        shadow: shadow({ status: 'active', allocationFraction: 1 }),
        workloads: pair().workloads.map((w) => (moved.includes(w.workloadId) ? { ...w, hostId: 'h-7' } : w)),
        movedToShadow: moved,
      }),
      forecast: forecast({ cpu: 120 }, { pairPeaks: forecast({ cpu: 190 }).peaks }),
    });
    expect(measuredHigh.action.kind).toBe('provision-primary');
  });
});
