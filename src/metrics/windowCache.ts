/**
 * Windows kept between reads. An observer forecasts every pair from two days of data at every 5-minute data step;
 * read whole, that is 576 steps × 4 resources per host each time, and at a few thousand pairs the reads alone outlast
 * the step. Kept here, a host's window is extended by reading only its newest steps: from a little before the last
 * sample it was read with (late samples land there), to the end of the new window. A host's window is read whole
 * again when it is first asked for, on a different grid, every few hours (so a backfill or a rewrite of older data is
 * seen), and when a tail read comes back off its grid.
 *
 * Values are kept as 32-bit floats (NaN for a gap): stores round utilisation to 0.001 %, which a float32 holds to far
 * better than that, so the values handed out are rounded back to the same numbers. Recorded pair demand, in the
 * resource's own units, is kept as 64-bit floats.
 */
import { RESOURCES, type Resource } from '../provider/types.js';
import type { PairDemandReader, UtilisationReader } from './batchedReads.js';
import type { DataIssue, HostToRead, PairDemandPoint, UtilisationQuery, UtilisationWindow } from './types.js';
import { stepGrid, toWindow } from './utilisation.js';

/** Steps before the last sample that every tail read covers again: samples written late land there. */
const DEFAULT_REREAD_STEPS = 2;
/** A kept window is read whole again after this long (plus up to as long again, spread by host). */
const DEFAULT_FULL_REFRESH_MS = 6 * 3600_000;
/** A window nobody asked for in this long is dropped (its pair left, or the host is no longer read). */
const DEFAULT_IDLE_MS = 30 * 60_000;
const SWEEP_EVERY_MS = 60_000;

export interface WindowCacheOptions {
  /** Wall clock (tests pass their own). */
  now?: () => number;
  rereadSteps?: number;
  fullRefreshMs?: number;
  idleMs?: number;
}

export interface WindowCacheStats {
  /** Hosts (or pairs) read whole. */
  fullReads: number;
  /** Hosts (or pairs) extended by their newest steps only. */
  tailReads: number;
  /** Windows (or pairs) kept now. */
  kept: number;
}

/** Issues of the samples themselves: kept with the steps they are about. Gaps and no-data follow from the values. */
const SAMPLE_ISSUES: ReadonlySet<DataIssue['kind']> = new Set(['counter-reset', 'invalid-value', 'unknown-capacity']);

/** A stable share in [0, 1) per id, so full re-reads of many hosts do not all fall on one step. */
function spreadOf(id: string): number {
  let hash = 2166136261;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 16777619);
  return (hash >>> 0) / 2 ** 32;
}

const roundPercent = (v: number): number => Math.round(v * 1000) / 1000;

interface KeptWindow {
  startMs: number;
  stepMs: number;
  /** Percent per step; NaN where the window has a gap. */
  values: Float32Array;
  lastSampleMs?: number;
  issues: DataIssue[];
  fullReadAt: number;
  usedAt: number;
}

function keep(window: UtilisationWindow, fullReadAt: number, usedAt: number): KeptWindow {
  const values = new Float32Array(window.values.length);
  window.values.forEach((v, i) => (values[i] = v ?? Number.NaN));
  return {
    startMs: Date.parse(window.start),
    stepMs: window.stepSeconds * 1000,
    values,
    ...(window.lastSampleAt !== undefined ? { lastSampleMs: Date.parse(window.lastSampleAt) } : {}),
    issues: window.issues.filter((issue) => SAMPLE_ISSUES.has(issue.kind)),
    fullReadAt,
    usedAt,
  };
}

/** True when a store's window lies exactly on the grid asked for (one that does not is handed on, never kept). */
function onGrid(window: UtilisationWindow, startMs: number, steps: number, stepSeconds: number): boolean {
  return Date.parse(window.start) === startMs && window.values.length === steps && window.stepSeconds === stepSeconds;
}

/**
 * A utilisation reader that keeps every window it read and, asked for the same hosts again on the same step grid,
 * reads only their newest steps. Concurrent queries still go through `read` (the batched reader), so the tails of
 * every pair observing in one turn become one query per 100 hosts.
 */
export function incrementalUtilisationReads(
  read: UtilisationReader,
  options: WindowCacheOptions = {},
): UtilisationReader & { stats(): WindowCacheStats } {
  const clock = options.now ?? Date.now;
  const rereadSteps = options.rereadSteps ?? DEFAULT_REREAD_STEPS;
  const fullRefreshMs = options.fullRefreshMs ?? DEFAULT_FULL_REFRESH_MS;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const kept = new Map<string, KeptWindow>();
  let fullReads = 0;
  let tailReads = 0;
  let sweptAt = Number.NEGATIVE_INFINITY;
  const keyOf = (host: HostToRead, resource: Resource) => `${host.hostId}|${resource}|${host.networkMbps ?? ''}`;

  /** Where this host's read must start: the grid's start (read whole) or a step near its last sample. */
  function tailStartOf(
    host: HostToRead,
    resources: readonly Resource[],
    grid: ReturnType<typeof stepGrid>,
    now: number,
  ): number {
    const endMs = grid.startMs + grid.steps * grid.stepMs;
    let tail = endMs - grid.stepMs;
    for (const resource of resources) {
      const entry = kept.get(keyOf(host, resource));
      if (
        !entry ||
        entry.stepMs !== grid.stepMs ||
        entry.startMs > grid.startMs ||
        (grid.startMs - entry.startMs) % grid.stepMs !== 0 ||
        entry.lastSampleMs === undefined ||
        now - entry.fullReadAt > fullRefreshMs * (1 + spreadOf(host.hostId))
      )
        return grid.startMs;
      const keptEndMs = entry.startMs + entry.values.length * entry.stepMs;
      const fromSample =
        grid.startMs + (Math.floor((entry.lastSampleMs - grid.startMs) / grid.stepMs) - rereadSteps) * grid.stepMs;
      tail = Math.min(tail, fromSample, keptEndMs);
    }
    return Math.max(grid.startMs, tail);
  }

  function merged(
    host: HostToRead,
    resource: Resource,
    grid: ReturnType<typeof stepGrid>,
    entry: KeptWindow,
    tailStart: number,
    tail: UtilisationWindow,
  ): UtilisationWindow {
    const headSteps = (tailStart - grid.startMs) / grid.stepMs;
    const offset = (grid.startMs - entry.startMs) / grid.stepMs;
    const values: (number | null)[] = new Array<number | null>(grid.steps);
    for (let i = 0; i < headSteps; i++) {
      const v = entry.values[offset + i];
      values[i] = v === undefined || Number.isNaN(v) ? null : roundPercent(v);
    }
    // A counter's first steps in the tail have a rate only if the sample before them is within the store's look-back:
    // after a gap longer than that, the step the kept window already has is the one a whole read gives.
    for (let i = headSteps; i < grid.steps; i++) {
      const v = tail.values[i - headSteps];
      const before = entry.values[offset + i];
      values[i] = v ?? (before === undefined || Number.isNaN(before) ? null : roundPercent(before));
    }
    const tailSample = tail.lastSampleAt !== undefined ? Date.parse(tail.lastSampleAt) : undefined;
    const lastSampleMs =
      tailSample ??
      (entry.lastSampleMs !== undefined && entry.lastSampleMs >= grid.startMs ? entry.lastSampleMs : undefined);
    const issues = [
      ...entry.issues.filter((i) => Date.parse(i.from) >= grid.startMs && Date.parse(i.from) < tailStart),
      ...tail.issues.filter((i) => SAMPLE_ISSUES.has(i.kind)),
    ];
    return toWindow(host.hostId, resource, grid, {
      values,
      issues,
      ...(lastSampleMs !== undefined ? { lastSampleMs } : {}),
    });
  }

  async function readOnce(query: UtilisationQuery): Promise<UtilisationWindow[]> {
    const grid = stepGrid(query);
    const resources = query.resources ?? RESOURCES;
    const now = clock();
    if (now - sweptAt >= SWEEP_EVERY_MS) {
      sweptAt = now;
      for (const [key, entry] of kept) if (now - entry.usedAt > idleMs) kept.delete(key);
    }
    const groups = new Map<number, HostToRead[]>();
    for (const host of query.hosts) {
      const start = tailStartOf(host, resources, grid, now);
      groups.set(start, [...(groups.get(start) ?? []), host]);
    }
    const read$ = [...groups].map(async ([start, hosts]) => ({
      start,
      windows: await read({ ...query, hosts, start: new Date(start) }),
    }));
    const byHost = new Map<string, { start: number; windows: Map<Resource, UtilisationWindow> }>();
    for (const { start, windows } of await Promise.all(read$))
      for (const window of windows) {
        const found = byHost.get(window.hostId) ?? { start, windows: new Map<Resource, UtilisationWindow>() };
        found.windows.set(window.resource, window);
        byHost.set(window.hostId, found);
      }

    const out: UtilisationWindow[] = [];
    const offGrid: HostToRead[] = [];
    for (const host of query.hosts) {
      const got = byHost.get(host.hostId);
      if (!got) continue; // the store knows nothing of this host: nothing to keep either
      const whole = got.start === grid.startMs;
      if (whole) fullReads += 1;
      else tailReads += 1;
      const tailSteps = (grid.startMs + grid.steps * grid.stepMs - got.start) / grid.stepMs;
      if (
        !whole &&
        resources.some(
          (r) => !got.windows.has(r) || !onGrid(got.windows.get(r)!, got.start, tailSteps, query.stepSeconds),
        )
      ) {
        offGrid.push(host);
        continue;
      }
      for (const resource of resources) {
        const window = got.windows.get(resource);
        if (!window) continue;
        const key = keyOf(host, resource);
        if (whole) {
          if (onGrid(window, grid.startMs, grid.steps, query.stepSeconds)) kept.set(key, keep(window, now, now));
          else kept.delete(key);
          out.push(window);
        } else {
          const entry = kept.get(key)!;
          const full = merged(host, resource, grid, entry, got.start, window);
          kept.set(key, keep(full, entry.fullReadAt, now));
          out.push(full);
        }
      }
    }
    if (offGrid.length === 0) return out;
    // A tail the store did not lay on its grid cannot be joined: those hosts are read whole.
    for (const host of offGrid) for (const resource of resources) kept.delete(keyOf(host, resource));
    const again = await readOnce({ ...query, hosts: offGrid });
    const order = new Map(query.hosts.map((h, i) => [h.hostId, i]));
    return [...out, ...again].sort((a, b) => (order.get(a.hostId) ?? 0) - (order.get(b.hostId) ?? 0));
  }

  return Object.assign(readOnce, {
    stats: (): WindowCacheStats => ({ fullReads, tailReads, kept: kept.size }),
  });
}

interface KeptDemand {
  startMs: number;
  /** Per resource, the recorded demand of each step from startMs (NaN where none), and the primary it was on. */
  demand: Map<Resource, Float64Array>;
  host: Map<Resource, Uint16Array>;
  hosts: string[];
  fullReadAt: number;
  usedAt: number;
}

/**
 * Recorded pair demand kept the same way, per pair on a step grid of `stepSeconds`: asked for again, a pair's record
 * is read from a few steps before the end of its last read. What this worker records itself is added with
 * `remember`, so a step it recorded long after the step's time (the record follows a pair across a role change)
 * is not missed by the tail.
 */
export function incrementalPairDemandReads(
  read: PairDemandReader,
  options: WindowCacheOptions & { stepSeconds?: number } = {},
): PairDemandReader & { remember(points: PairDemandPoint[]): void; stats(): WindowCacheStats } {
  const clock = options.now ?? Date.now;
  const stepMs = (options.stepSeconds ?? 300) * 1000;
  const rereadMs = ((options.rereadSteps ?? DEFAULT_REREAD_STEPS) + 1) * stepMs;
  const fullRefreshMs = options.fullRefreshMs ?? DEFAULT_FULL_REFRESH_MS;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const kept = new Map<string, KeptDemand & { endMs: number }>();
  let fullReads = 0;
  let tailReads = 0;
  let sweptAt = Number.NEGATIVE_INFINITY;

  /** Lays points onto a fresh record over [startMs, endMs); undefined when one is off the step grid. */
  function record(points: PairDemandPoint[], startMs: number, endMs: number, now: number, fullReadAt: number) {
    const steps = Math.ceil((endMs - startMs) / stepMs);
    const entry: KeptDemand & { endMs: number } = {
      startMs,
      endMs,
      demand: new Map(),
      host: new Map(),
      hosts: [],
      fullReadAt,
      usedAt: now,
    };
    return place(entry, points, steps) ? entry : undefined;
  }

  function place(entry: KeptDemand & { endMs: number }, points: PairDemandPoint[], steps?: number): boolean {
    const length = steps ?? Math.ceil((entry.endMs - entry.startMs) / stepMs);
    for (const point of points) {
      const i = (point.time.getTime() - entry.startMs) / stepMs;
      if (!Number.isInteger(i)) return false;
      if (i < 0 || i >= length) continue;
      let demand = entry.demand.get(point.resource);
      let host = entry.host.get(point.resource);
      if (!demand || !host) {
        demand = new Float64Array(length).fill(Number.NaN);
        host = new Uint16Array(length);
        entry.demand.set(point.resource, demand);
        entry.host.set(point.resource, host);
      }
      let h = entry.hosts.indexOf(point.primaryHostId);
      if (h < 0) h = entry.hosts.push(point.primaryHostId) - 1;
      demand[i] = point.demand;
      host[i] = h;
    }
    return true;
  }

  /** Copies the kept steps in [to.startMs, until) into a fresh record (which holds only the tail so far). */
  function copyHead(from: KeptDemand, to: KeptDemand & { endMs: number }, until: number): void {
    const offset = (to.startMs - from.startMs) / stepMs;
    const headSteps = (until - to.startMs) / stepMs;
    const length = Math.ceil((to.endMs - to.startMs) / stepMs);
    for (const [resource, demand] of from.demand) {
      const host = from.host.get(resource)!;
      let toDemand = to.demand.get(resource);
      let toHost = to.host.get(resource);
      if (!toDemand || !toHost) {
        toDemand = new Float64Array(length).fill(Number.NaN);
        toHost = new Uint16Array(length);
        to.demand.set(resource, toDemand);
        to.host.set(resource, toHost);
      }
      for (let i = 0; i < headSteps; i++) {
        const value = demand[offset + i];
        if (value === undefined || Number.isNaN(value)) continue;
        const hostId = from.hosts[host[offset + i]!] ?? '';
        let h = to.hosts.indexOf(hostId);
        if (h < 0) h = to.hosts.push(hostId) - 1;
        toDemand[i] = value;
        toHost[i] = h;
      }
    }
  }

  function pointsOf(pairId: string, entry: KeptDemand & { endMs: number }, startMs: number): PairDemandPoint[] {
    const points: PairDemandPoint[] = [];
    for (const [resource, demand] of entry.demand) {
      const host = entry.host.get(resource)!;
      for (let i = Math.max(0, (startMs - entry.startMs) / stepMs); i < demand.length; i++)
        if (!Number.isNaN(demand[i]!))
          points.push({
            pairId,
            resource,
            time: new Date(entry.startMs + i * stepMs),
            demand: demand[i]!,
            primaryHostId: entry.hosts[host[i]!] ?? '',
          });
    }
    return points.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async function readDemand(query: { pairIds: string[]; start: Date; end: Date }): Promise<PairDemandPoint[]> {
    const now = clock();
    if (now - sweptAt >= SWEEP_EVERY_MS) {
      sweptAt = now;
      for (const [key, entry] of kept) if (now - entry.usedAt > idleMs) kept.delete(key);
    }
    const startMs = query.start.getTime();
    const endMs = query.end.getTime();
    const groups = new Map<number, string[]>();
    for (const pairId of query.pairIds) {
      const entry = kept.get(pairId);
      const usable =
        entry !== undefined &&
        entry.startMs <= startMs &&
        (startMs - entry.startMs) % stepMs === 0 &&
        entry.endMs > startMs &&
        endMs >= entry.endMs &&
        now - entry.fullReadAt <= fullRefreshMs * (1 + spreadOf(pairId));
      const from = usable ? Math.max(startMs, entry.endMs - rereadMs) : startMs;
      groups.set(from, [...(groups.get(from) ?? []), pairId]);
    }
    const reads = await Promise.all(
      [...groups].map(async ([from, pairIds]) => ({
        from,
        pairIds,
        points: await read({ pairIds, start: new Date(from), end: query.end }),
      })),
    );
    const out: PairDemandPoint[] = [];
    for (const { from, pairIds, points } of reads) {
      const byPair = new Map<string, PairDemandPoint[]>(pairIds.map((id) => [id, []]));
      for (const point of points) byPair.get(point.pairId)?.push(point);
      for (const [pairId, mine] of byPair) {
        const whole = from === startMs;
        const before = kept.get(pairId);
        const entry = record(mine, startMs, endMs, now, whole ? now : (before?.fullReadAt ?? now));
        // The steps before the tail come from what was kept.
        if (!whole && before && entry) copyHead(before, entry, from);
        if (entry) kept.set(pairId, entry);
        else kept.delete(pairId);
        if (whole) fullReads += 1;
        else tailReads += 1;
        out.push(...(entry ? pointsOf(pairId, entry, startMs) : mine));
      }
    }
    return out.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  return Object.assign(readDemand, {
    remember(points: PairDemandPoint[]): void {
      for (const point of points) {
        const entry = kept.get(point.pairId);
        if (entry && !place(entry, [point])) kept.delete(point.pairId);
      }
    },
    stats: (): WindowCacheStats => ({ fullReads, tailReads, kept: kept.size }),
  });
}
