// Windows kept between reads (pure logic): every tail-extended window must equal a whole read of the same data. The
// store here turns raw Telegraf samples into windows with the adapters' own code; the pair and observer suites read
// the real InfluxDB through the same readers.
import { describe, expect, it } from 'vitest';
import { RESOURCES } from '../src/provider/types.js';
import { incrementalPairDemandReads, incrementalUtilisationReads } from '../src/metrics/windowCache.js';
import { buildWindows, COUNTER_LOOKBACK_MS, stepGrid, type DeviceSeries } from '../src/metrics/utilisation.js';
import type { PairDemandPoint, PairDemandQuery, UtilisationQuery, UtilisationWindow } from '../src/metrics/types.js';

const STEP_MS = 300_000;
const HISTORY_STEPS = 48;
const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);

/** Raw samples per host, as Telegraf writes them; reads build windows exactly as the InfluxDB adapters do. */
function sampleStore() {
  const samples = new Map<
    string,
    { time: number; idle: number; used: number; io: number; recv: number; sent: number }[]
  >();
  const queries: UtilisationQuery[] = [];
  return {
    queries,
    write(hostId: string, time: number, level: number, counters: { io: number; bytes: number }) {
      const rows = samples.get(hostId) ?? [];
      rows.push({
        time,
        idle: 100 - level,
        used: level / 2,
        io: counters.io,
        recv: counters.bytes,
        sent: counters.bytes / 2,
      });
      rows.sort((a, b) => a.time - b.time);
      samples.set(hostId, rows);
    },
    readUtilisation(query: UtilisationQuery): Promise<UtilisationWindow[]> {
      queries.push(query);
      const grid = stepGrid(query);
      const end = grid.startMs + grid.steps * grid.stepMs;
      return Promise.resolve(
        buildWindows(query, grid, (resource, hostId): DeviceSeries[] => {
          const lookback = resource === 'storage' || resource === 'network' ? COUNTER_LOOKBACK_MS : 0;
          const rows = (samples.get(hostId) ?? []).filter((r) => r.time >= grid.startMs - lookback && r.time < end);
          if (rows.length === 0) return [];
          const series = (pick: (r: (typeof rows)[number]) => number) => ({
            times: rows.map((r) => r.time),
            values: rows.map(pick),
          });
          switch (resource) {
            case 'cpu':
              return [{ fields: { usage_idle: series((r) => r.idle) } }];
            case 'memory':
              return [{ fields: { used_percent: series((r) => r.used) } }];
            case 'storage':
              return [{ device: 'sda', fields: { io_time: series((r) => r.io) } }];
            case 'network':
              return [
                { device: 'eth0', fields: { bytes_recv: series((r) => r.recv), bytes_sent: series((r) => r.sent) } },
              ];
          }
        }),
      );
    },
  };
}

const hosts = [
  { hostId: 'p-1', networkMbps: 1000 },
  { hostId: 'p-2', networkMbps: 1000 },
];
/** The observer's window at wall time `now`: two days (here four hours) ending on the step after now. */
function windowAt(now: number): UtilisationQuery {
  const end = Math.ceil((now + 1) / STEP_MS) * STEP_MS;
  return { hosts, start: new Date(end - HISTORY_STEPS * STEP_MS), end: new Date(end), stepSeconds: STEP_MS / 1000 };
}
const level = (hostId: string, step: number) => 30 + 20 * Math.sin(step / 5) + (hostId === 'p-2' ? 10 : 0);
const comparable = (windows: UtilisationWindow[]) =>
  windows.map((w) => ({
    ...w,
    issues: w.issues.filter((i) => i.kind === 'gap' || i.kind === 'no-data'),
  }));

describe('utilisation windows kept between reads', () => {
  it('extends each window by its newest steps and hands out what a whole read of the same data gives', async () => {
    const store = sampleStore();
    const counters = new Map(hosts.map((h) => [h.hostId, { io: 0, bytes: 0 }]));
    const writeStep = (hostId: string, step: number) => {
      const c = counters.get(hostId)!;
      c.io += 1000 * level(hostId, step);
      c.bytes += 5e7 * level(hostId, step);
      store.write(hostId, T0 + step * STEP_MS, level(hostId, step), c);
    };
    for (let step = 0; step < HISTORY_STEPS; step++) for (const h of hosts) writeStep(h.hostId, step);
    let now = T0 + (HISTORY_STEPS - 1) * STEP_MS + 20_000;
    const reader = incrementalUtilisationReads((q) => store.readUtilisation(q), { now: () => now });
    await reader(windowAt(now));

    for (let step = HISTORY_STEPS; step < HISTORY_STEPS + 30; step++) {
      // p-2 misses steps 55–57 (a gap), and its step 60 arrives one step late; p-1's disk counter resets at step 65.
      if (step === 65) counters.get('p-1')!.io = 0;
      if (!(step >= 55 && step <= 57)) writeStep('p-1', step);
      if (!(step >= 55 && step <= 57) && step !== 60) writeStep('p-2', step);
      if (step === 61) {
        const c = counters.get('p-2')!;
        store.write('p-2', T0 + 60 * STEP_MS, level('p-2', 60), { io: c.io - 500, bytes: c.bytes - 1e6 });
      }
      now = T0 + step * STEP_MS + 20_000;
      const before = store.queries.length;
      const kept = await reader(windowAt(now));
      const tail = store.queries.slice(before);
      expect(tail.length).toBeGreaterThan(0);
      // Only a few steps were read, never the whole window (both hosts' tails are one query when they match).
      for (const q of tail) expect(stepGrid(q).steps).toBeLessThanOrEqual(8);
      const whole = await store.readUtilisation(windowAt(now));
      expect(comparable(kept)).toEqual(comparable(whole));
      expect(kept.map((w) => `${w.hostId}/${w.resource}`)).toEqual(whole.map((w) => `${w.hostId}/${w.resource}`));
    }
    const reset = (await reader(windowAt(now))).find((w) => w.hostId === 'p-1' && w.resource === 'storage')!;
    expect(reset.issues.map((i) => i.kind)).toContain('counter-reset');
    expect(reader.stats()).toMatchObject({ fullReads: 2, kept: hosts.length * RESOURCES.length });
  });

  it('reads a host whole again on another grid, with another link speed, after the refresh period, or once idle', async () => {
    const store = sampleStore();
    for (let step = 0; step < HISTORY_STEPS; step++)
      for (const h of hosts)
        store.write(h.hostId, T0 + step * STEP_MS, level(h.hostId, step), { io: step, bytes: step });
    let now = T0 + (HISTORY_STEPS - 1) * STEP_MS + 20_000;
    const reader = incrementalUtilisationReads((q) => store.readUtilisation(q), {
      now: () => now,
      fullRefreshMs: 3600_000,
      idleMs: 600_000,
    });
    const stepsOfLastRead = () => stepGrid(store.queries[store.queries.length - 1]!).steps;
    await reader(windowAt(now));
    await reader(windowAt(now));
    expect(stepsOfLastRead()).toBeLessThan(HISTORY_STEPS);

    // Another step width is another grid.
    await reader({ ...windowAt(now), stepSeconds: 60, start: new Date(windowAt(now).end.getTime() - 3600_000) });
    expect(stepsOfLastRead()).toBe(60);
    // Another link speed changes the network percentages: read whole.
    await reader({ ...windowAt(now), hosts: [{ hostId: 'p-1', networkMbps: 100 }] });
    expect(stepsOfLastRead()).toBe(HISTORY_STEPS);

    // A backfill the tail cannot see shows once the refresh period (spread up to twice as long) is over.
    store.write('p-1', T0 + 10 * STEP_MS + 60_000, 99, { io: 10, bytes: 10 });
    now += 2 * 3600_000 + 1;
    const refreshed = await reader({ ...windowAt(now), hosts: [hosts[0]!] });
    const whole = await store.readUtilisation({ ...windowAt(now), hosts: [hosts[0]!] });
    expect(comparable(refreshed)).toEqual(comparable(whole));

    // Hosts nobody asked for in the idle time are dropped at the next read.
    now += 600_001;
    await reader({ ...windowAt(now), hosts: [hosts[0]!] });
    expect(reader.stats().kept).toBe(RESOURCES.length);
  });

  it('hands on, and never keeps, a window that is not on the grid it asked for', async () => {
    const crafted: UtilisationWindow = {
      hostId: 'p-1',
      resource: 'cpu',
      start: new Date(T0).toISOString(),
      stepSeconds: 300,
      values: [10, 20, 30],
      lastSampleAt: new Date(T0 + 2 * STEP_MS).toISOString(),
      issues: [],
    };
    let reads = 0;
    const reader = incrementalUtilisationReads(() => {
      reads += 1;
      return Promise.resolve([crafted]);
    });
    const query = { ...windowAt(T0 + 600_000), hosts: [{ hostId: 'p-1' }], resources: ['cpu' as const] };
    expect(await reader(query)).toEqual([crafted]);
    expect(await reader(query)).toEqual([crafted]);
    expect(reads).toBe(2);
    expect(reader.stats()).toMatchObject({ fullReads: 2, tailReads: 0, kept: 0 });
  });
});

describe('recorded pair demand kept between reads', () => {
  function demandStore() {
    const points = new Map<string, PairDemandPoint>();
    const queries: PairDemandQuery[] = [];
    return {
      queries,
      write(list: PairDemandPoint[]) {
        for (const p of list) points.set(`${p.pairId}|${p.resource}|${p.time.getTime()}`, p);
      },
      readPairDemand(query: PairDemandQuery): Promise<PairDemandPoint[]> {
        queries.push(query);
        return Promise.resolve(
          [...points.values()]
            .filter(
              (p) =>
                query.pairIds.includes(p.pairId) &&
                p.time.getTime() >= query.start.getTime() &&
                p.time.getTime() < query.end.getTime(),
            )
            .sort((a, b) => a.time.getTime() - b.time.getTime()),
        );
      },
    };
  }
  const point = (pairId: string, step: number, resource: 'cpu' | 'memory', host = 'p-1'): PairDemandPoint => ({
    pairId,
    resource,
    time: new Date(T0 + step * STEP_MS),
    demand: step * 1.234567891 + (resource === 'memory' ? 4096 : 0),
    primaryHostId: host,
  });
  const windowOf = (pairIds: string[], now: number) => {
    const end = Math.ceil((now + 1) / STEP_MS) * STEP_MS;
    return { pairIds, start: new Date(end - HISTORY_STEPS * STEP_MS), end: new Date(end) };
  };
  const sorted = (list: PairDemandPoint[]) =>
    [...list].sort(
      (a, b) =>
        a.time.getTime() - b.time.getTime() || a.resource.localeCompare(b.resource) || a.pairId.localeCompare(b.pairId),
    );

  it('reads only the newest steps, keeps what the worker recorded itself, and equals a whole read', async () => {
    const store = demandStore();
    for (let step = 0; step < HISTORY_STEPS; step++) store.write([point('a', step, 'cpu'), point('b', step, 'memory')]);
    let now = T0 + HISTORY_STEPS * STEP_MS + 20_000;
    const reader = incrementalPairDemandReads((q) => store.readPairDemand(q), { now: () => now });
    await reader(windowOf(['a', 'b'], now));
    for (let step = HISTORY_STEPS; step < HISTORY_STEPS + 20; step++) {
      // After a failover at step 55, pair a's steps since then are recorded late, with its new primary.
      const late = step === 58 ? [50, 51, 52].map((s) => point('a', s, 'memory', 's-1')) : [];
      store.write([point('a', step, 'cpu', step >= 55 ? 's-1' : 'p-1'), point('b', step, 'memory'), ...late]);
      reader.remember(late);
      now = T0 + (step + 1) * STEP_MS + 20_000;
      const before = store.queries.length;
      const kept = await reader(windowOf(['a', 'b'], now));
      for (const q of store.queries.slice(before))
        expect(q.end.getTime() - q.start.getTime()).toBeLessThanOrEqual(4 * STEP_MS);
      expect(sorted(kept)).toEqual(sorted(await store.readPairDemand(windowOf(['a', 'b'], now))));
    }
    expect(reader.stats()).toMatchObject({ fullReads: 2, tailReads: 40, kept: 2 });
  });

  it('hands on, and never keeps, points off its step grid', async () => {
    const store = demandStore();
    const odd = { ...point('a', 3, 'cpu'), time: new Date(T0 + 3 * STEP_MS + 1000) };
    store.write([point('a', 2, 'cpu'), odd]);
    const reader = incrementalPairDemandReads((q) => store.readPairDemand(q), { now: () => T0 + 10 * STEP_MS });
    const query = windowOf(['a'], T0 + 10 * STEP_MS);
    expect(sorted(await reader(query))).toEqual(sorted([point('a', 2, 'cpu'), odd]));
    await reader(query);
    expect(reader.stats()).toMatchObject({ fullReads: 2, tailReads: 0, kept: 0 });
  });
});
