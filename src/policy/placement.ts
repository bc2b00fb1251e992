/**
 * Shadow placement and its proof of regional resilience. Pure and deterministic: the same topology and options
 * always give the same assignments (everything is ordered by name before any choice), so a workflow can recompute a
 * placement on replay and a benchmark can compare runs.
 *
 * The guarantee: after any single region's outage, every primary in it has a shadow in another region, and in every
 * surviving region the standby footprints of all its shadows plus the growth to full size of the shadows that take
 * over fit the region's shadow capacity (per resource), each grown shadow fitting on one of its hosts.
 */
import {
  POLICY_RESOURCES,
  addCapacity,
  amountOf,
  capacityFaults,
  exceededResources,
  fitsWithin,
  formatAmount,
  maxCapacity,
  minHeadroomShare,
  scaleCapacity,
  zeroCapacity,
} from './capacity.js';
import type {
  Capacity,
  PlacementOptions,
  PlacementProblem,
  PlacementResult,
  PrimarySpec,
  RegionSpec,
  ReplacementResult,
  ResilienceReport,
  ShadowAssignment,
  Topology,
} from './types.js';

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every fault of a topology, each naming the host or region and what is wrong; empty when it can be placed. */
export function validateTopology(topology: Topology): PlacementProblem[] {
  const problems: PlacementProblem[] = [];
  const regions = Array.isArray(topology?.regions) ? topology.regions : [];
  const primaries = Array.isArray(topology?.primaries) ? topology.primaries : [];

  const regionByName = new Map<string, RegionSpec>();
  for (const region of regions) {
    if (regionByName.has(region.name)) {
      problems.push({
        kind: 'duplicate-region',
        region: region.name,
        message: `Region ${region.name} is listed more than once.`,
      });
      continue;
    }
    regionByName.set(region.name, region);
    if (!Array.isArray(region.zones) || region.zones.length === 0)
      problems.push({
        kind: 'unknown-zone',
        region: region.name,
        message: `Region ${region.name} lists no zones, so no shadow can be placed in it.`,
      });
    for (const [label, capacity] of [
      ['shadowCapacity', region.shadowCapacity],
      ['maxHostCapacity', region.maxHostCapacity],
    ] as const) {
      const faults = capacityFaults(capacity);
      if (faults.length > 0)
        problems.push({
          kind: 'invalid-capacity',
          region: region.name,
          message: `Region ${region.name} has an invalid ${label}: ${faults.join(', ')}.`,
        });
    }
  }
  if (regionByName.size < 2)
    problems.push({
      kind: 'no-other-region',
      message: `The topology has ${regionByName.size === 0 ? 'no region' : `only region ${[...regionByName.keys()].join('')}`}; shadows must live in a region other than their primary's, so at least two are needed.`,
    });

  const seenHosts = new Set<string>();
  for (const primary of primaries) {
    if (seenHosts.has(primary.hostId)) {
      problems.push({
        kind: 'duplicate-host',
        hostId: primary.hostId,
        message: `Primary ${primary.hostId} is listed more than once.`,
      });
      continue;
    }
    seenHosts.add(primary.hostId);
    const faults = capacityFaults(primary.capacity);
    if (faults.length > 0) {
      problems.push({
        kind: 'invalid-capacity',
        hostId: primary.hostId,
        message: `Primary ${primary.hostId} has an invalid capacity: ${faults.join(', ')}.`,
      });
    }
    const region = regionByName.get(primary.region);
    if (region === undefined) {
      problems.push({
        kind: 'unknown-region',
        hostId: primary.hostId,
        region: primary.region,
        message: `Primary ${primary.hostId} is in region ${primary.region}, which the topology does not list.`,
      });
    } else if (!Array.isArray(region.zones) || !region.zones.includes(primary.zone)) {
      problems.push({
        kind: 'unknown-zone',
        hostId: primary.hostId,
        region: primary.region,
        message: `Primary ${primary.hostId} is in zone ${primary.zone}, which region ${primary.region} does not list (zones: ${(region.zones ?? []).join(', ')}).`,
      });
    }
    if (faults.length === 0 && regionByName.size >= 2) {
      const others = [...regionByName.values()].filter(
        (r) => r.name !== primary.region && capacityFaults(r.maxHostCapacity).length === 0,
      );
      if (others.length > 0 && !others.some((r) => fitsWithin(primary.capacity, r.maxHostCapacity))) {
        const largest = others.reduce((acc, r) => maxCapacity(acc, r.maxHostCapacity), zeroCapacity());
        const over = exceededResources(primary.capacity, largest).map((r) => formatAmount(primary.capacity, r));
        problems.push({
          kind: 'primary-too-large',
          hostId: primary.hostId,
          region: primary.region,
          message: `Primary ${primary.hostId} (${over.join(', ')}) is larger than any host another region can provide, so its shadow could never grow to full size.`,
        });
      }
    }
  }
  return problems;
}

function optionFaults(options: PlacementOptions): PlacementProblem[] {
  const fraction = options?.shadowFraction;
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction <= 0 || fraction > 1)
    return [
      {
        kind: 'invalid-options',
        message: `shadowFraction is ${String(fraction)}; it must be in (0, 1], e.g. 0.15 for a 15% standby footprint.`,
      },
    ];
  return [];
}

/** The fraction a shadow holds while on standby: its assignment's own, when valid, else the policy's. */
const standbyFraction = (assignment: ShadowAssignment, shadowFraction: number): number => {
  const own = assignment.allocationFraction;
  return typeof own === 'number' && Number.isFinite(own) && own > 0 && own <= 1 ? own : shadowFraction;
};

/**
 * Tracks, per region, the standby footprint of the shadows it holds and their growth per region of origin, so the
 * worst single-region outage's demand is known at every step of a greedy placement.
 */
class RegionLedger {
  readonly standby = new Map<string, Capacity>();
  /** region → region of the shadows' primaries → growth to full size if that region fails. */
  readonly growth = new Map<string, Map<string, Capacity>>();
  readonly zoneCounts = new Map<string, Map<string, number>>();
  readonly groupCounts = new Map<string, Map<string, number>>();

  constructor(private readonly regions: readonly RegionSpec[]) {
    for (const region of regions) {
      this.standby.set(region.name, zeroCapacity());
      this.growth.set(region.name, new Map());
      this.zoneCounts.set(region.name, new Map());
      this.groupCounts.set(region.name, new Map());
    }
  }

  add(primary: PrimarySpec, assignment: ShadowAssignment, fraction: number): void {
    this.apply(primary, assignment, fraction, 1);
  }

  remove(primary: PrimarySpec, assignment: ShadowAssignment, fraction: number): void {
    this.apply(primary, assignment, fraction, -1);
  }

  private apply(primary: PrimarySpec, assignment: ShadowAssignment, fraction: number, sign: 1 | -1): void {
    const region = assignment.region;
    const standby = this.standby.get(region);
    const growth = this.growth.get(region);
    if (standby === undefined || growth === undefined) return;
    this.standby.set(region, addCapacity(standby, scaleCapacity(primary.capacity, sign * fraction)));
    const fromOrigin = growth.get(primary.region) ?? zeroCapacity();
    growth.set(primary.region, addCapacity(fromOrigin, scaleCapacity(primary.capacity, sign * (1 - fraction))));
    const zones = this.zoneCounts.get(region);
    zones?.set(assignment.zone, (zones.get(assignment.zone) ?? 0) + sign);
    if (primary.diversityGroup !== undefined) {
      const groups = this.groupCounts.get(region);
      groups?.set(primary.diversityGroup, (groups.get(primary.diversityGroup) ?? 0) + sign);
    }
  }

  /** How far the region's worst outage overflows its shadow capacity: the sum of each resource's excess share. */
  overflow(region: RegionSpec): number {
    const demand = this.worstDemand(region.name);
    return POLICY_RESOURCES.reduce((sum, r) => {
      const available = amountOf(region.shadowCapacity, r);
      return sum + Math.max(0, amountOf(demand, r) - available) / available;
    }, 0);
  }

  /** The region's demand in its worst outage elsewhere, optionally with one more shadow for `primary`. */
  worstDemand(region: string, extra?: { primary: PrimarySpec; fraction: number }): Capacity {
    if (extra === undefined) {
      let worstGrowth = zeroCapacity();
      for (const growth of this.growth.get(region)?.values() ?? []) worstGrowth = maxCapacity(worstGrowth, growth);
      return addCapacity(this.standby.get(region) ?? zeroCapacity(), worstGrowth);
    }
    let standby = this.standby.get(region) ?? zeroCapacity();
    const growthByOrigin = new Map(this.growth.get(region) ?? []);
    if (extra !== undefined) {
      standby = addCapacity(standby, scaleCapacity(extra.primary.capacity, extra.fraction));
      const origin = extra.primary.region;
      growthByOrigin.set(
        origin,
        addCapacity(
          growthByOrigin.get(origin) ?? zeroCapacity(),
          scaleCapacity(extra.primary.capacity, 1 - extra.fraction),
        ),
      );
    }
    // Per resource, the worst failed region may differ; taking the maximum per resource is exactly the proof's
    // "every outage, every resource" condition.
    let worstGrowth = zeroCapacity();
    for (const growth of growthByOrigin.values()) worstGrowth = maxCapacity(worstGrowth, growth);
    return addCapacity(standby, worstGrowth);
  }

  groupCount(region: string, group: string | undefined): number {
    return group === undefined ? 0 : (this.groupCounts.get(region)?.get(group) ?? 0);
  }

  /** Least-used zone of the region (ties by name). */
  pickZone(region: RegionSpec): string {
    const counts = this.zoneCounts.get(region.name);
    const zones = [...region.zones].sort(byName);
    let best = zones[0] ?? '';
    for (const zone of zones) if ((counts?.get(zone) ?? 0) < (counts?.get(best) ?? 0)) best = zone;
    return best;
  }
}

type CandidateOrder = 'spread-first' | 'headroom-first';

interface Candidate {
  region: RegionSpec;
  fits: boolean;
  headroom: number;
  groupCount: number;
}

/** The regions that could hold a shadow for `primary`, best first under `order`. */
function rankCandidates(
  ledger: RegionLedger,
  regions: readonly RegionSpec[],
  primary: PrimarySpec,
  fraction: number,
  excluded: ReadonlySet<string>,
  order: CandidateOrder,
): Candidate[] {
  const candidates: Candidate[] = [];
  for (const region of regions) {
    if (region.name === primary.region || excluded.has(region.name)) continue;
    if (!fitsWithin(primary.capacity, region.maxHostCapacity)) continue;
    const demand = ledger.worstDemand(region.name, { primary, fraction });
    candidates.push({
      region,
      fits: fitsWithin(demand, region.shadowCapacity),
      headroom: minHeadroomShare(demand, region.shadowCapacity),
      groupCount: ledger.groupCount(region.name, primary.diversityGroup),
    });
  }
  const compare = (a: Candidate, b: Candidate): number => {
    if (a.fits !== b.fits) return a.fits ? -1 : 1;
    if (order === 'spread-first' && a.groupCount !== b.groupCount) return a.groupCount - b.groupCount;
    if (a.headroom !== b.headroom) return b.headroom - a.headroom;
    if (a.groupCount !== b.groupCount) return a.groupCount - b.groupCount;
    return byName(a.region.name, b.region.name);
  };
  return candidates.sort(compare);
}

/** Largest first: by the biggest share any resource takes of the whole fleet's shadow capacity of it. */
function sizeOrder(primaries: readonly PrimarySpec[], regions: readonly RegionSpec[]): PrimarySpec[] {
  const total = regions.reduce((sum, r) => addCapacity(sum, r.shadowCapacity), zeroCapacity());
  const size = (p: PrimarySpec): number => 1 - minHeadroomShare(p.capacity, total);
  return [...primaries].sort((a, b) => size(b) - size(a) || byName(a.hostId, b.hostId));
}

function greedyPlacement(
  topology: Topology,
  fraction: number,
  kept: readonly ShadowAssignment[],
  excluded: ReadonlySet<string>,
  order: CandidateOrder,
): { assignments: ShadowAssignment[]; unplaced: PrimarySpec[] } {
  const regions = [...topology.regions].sort((a, b) => byName(a.name, b.name));
  const primaryById = new Map(topology.primaries.map((p) => [p.hostId, p]));
  // Sorted, so float sums (and the choices they decide) do not depend on the order the caller listed them in.
  const keptCopies = kept
    .filter((a) => primaryById.has(a.primaryHostId))
    .map((a) => ({ ...a }))
    .sort((a, b) => byName(a.primaryHostId, b.primaryHostId));
  const ledger = ledgerOf(regions, primaryById, keptCopies, fraction);
  const keptIds = new Set(kept.map((a) => a.primaryHostId));
  const placed: ShadowAssignment[] = [];
  const unplaced: PrimarySpec[] = [];
  const toPlace = sizeOrder(
    topology.primaries.filter((p) => !keptIds.has(p.hostId)),
    regions,
  );
  for (const primary of toPlace) {
    const best = rankCandidates(ledger, regions, primary, fraction, excluded, order)[0];
    if (best === undefined) {
      unplaced.push(primary);
      continue;
    }
    // The zone is chosen once the regions are final (rebalancing may still move the shadow).
    const assignment: ShadowAssignment = {
      primaryHostId: primary.hostId,
      region: best.region.name,
      zone: '',
      allocationFraction: fraction,
    };
    ledger.add(primary, assignment, fraction);
    placed.push(assignment);
  }
  if (unplaced.length === 0) {
    repairOverflow(regions, primaryById, keptCopies, placed, fraction, excluded);
    rebalanceGroups(regions, primaryById, keptCopies, placed, fraction, excluded);
  }

  // Zones: kept shadows first, then the new ones in placement order, each into its region's least-used zone.
  const zoneLedger = ledgerOf(regions, primaryById, keptCopies, fraction);
  const regionByName = new Map(regions.map((r) => [r.name, r]));
  for (const assignment of placed) {
    const region = regionByName.get(assignment.region);
    const primary = primaryById.get(assignment.primaryHostId);
    if (region === undefined || primary === undefined) continue;
    assignment.zone = zoneLedger.pickZone(region);
    zoneLedger.add(primary, assignment, fraction);
  }
  const assignments = [...keptCopies, ...placed].sort((a, b) => byName(a.primaryHostId, b.primaryHostId));
  return { assignments, unplaced };
}

function ledgerOf(
  regions: readonly RegionSpec[],
  primaryById: ReadonlyMap<string, PrimarySpec>,
  assignments: readonly ShadowAssignment[],
  fraction: number,
): RegionLedger {
  const ledger = new RegionLedger(regions);
  for (const a of assignments) {
    const primary = primaryById.get(a.primaryHostId);
    if (primary !== undefined) ledger.add(primary, a, standbyFraction(a, fraction));
  }
  return ledger;
}

/** Moves and swaps the overflow repair may try in all: a hopeless fleet fails within a fraction of a second. */
const REPAIR_BUDGET = 2_000;

/**
 * Local search after the greedy pass, for fleets where placing one shadow at a time painted itself into a corner:
 * while some region's worst outage overflows its capacity, apply the single move of a shadow out of an overflowing
 * region (or, failing that, the swap of two shadows' regions) that reduces the total overflow most. Stops when
 * nothing overflows or no move helps; each applied move strictly reduces the overflow, so it ends.
 */
function repairOverflow(
  regions: readonly RegionSpec[],
  primaryById: ReadonlyMap<string, PrimarySpec>,
  kept: readonly ShadowAssignment[],
  placed: ShadowAssignment[],
  fraction: number,
  excluded: ReadonlySet<string>,
): void {
  const ledger = ledgerOf(regions, primaryById, [...kept, ...placed], fraction);
  const regionByName = new Map(regions.map((r) => [r.name, r]));
  const overflowOf = (name: string): number => {
    const region = regionByName.get(name);
    return region === undefined ? 0 : ledger.overflow(region);
  };
  const allowed = (a: ShadowAssignment, to: RegionSpec): boolean => {
    const primary = primaryById.get(a.primaryHostId);
    return (
      primary !== undefined &&
      primary.region !== to.name &&
      !excluded.has(to.name) &&
      fitsWithin(primary.capacity, to.maxHostCapacity)
    );
  };
  /** Moves the shadows to the given regions in the ledger and returns the change in overflow (negative = better). */
  const relocate = (moves: readonly { a: ShadowAssignment; to: string }[], measure = true): number => {
    const touched = measure ? [...new Set(moves.flatMap((m) => [m.a.region, m.to]))] : [];
    const before = touched.reduce((sum, name) => sum + overflowOf(name), 0);
    for (const { a, to } of moves) {
      const primary = primaryById.get(a.primaryHostId);
      if (primary === undefined) continue;
      ledger.remove(primary, a, fraction);
      a.region = to;
      ledger.add(primary, a, fraction);
    }
    return touched.reduce((sum, name) => sum + overflowOf(name), 0) - before;
  };
  const EPSILON = 1e-12;
  // A bound on the moves tried, so a hopeless large fleet fails fast; counted, not timed, to stay deterministic.
  let budget = REPAIR_BUDGET;

  for (let iteration = 0; iteration < 4 * placed.length + 10 && budget > 0; iteration++) {
    const overflowing = new Set(regions.filter((r) => ledger.overflow(r) > EPSILON).map((r) => r.name));
    if (overflowing.size === 0) return;
    const movers = placed
      .filter((a) => overflowing.has(a.region))
      .sort((x, y) => byName(x.primaryHostId, y.primaryHostId));
    let best: { change: number; moves: { a: ShadowAssignment; to: string }[] } | undefined;
    const consider = (moves: { a: ShadowAssignment; to: string }[]): void => {
      budget--;
      const back = moves.map((m) => ({ a: m.a, to: m.a.region }));
      const change = relocate(moves);
      relocate(back.reverse(), false);
      if (change < -EPSILON && (best === undefined || change < best.change - EPSILON)) best = { change, moves };
    };
    for (const a of movers)
      for (const to of regions) if (to.name !== a.region && allowed(a, to)) consider([{ a, to: to.name }]);
    if (best === undefined)
      for (const a of movers)
        for (const b of placed) {
          if (budget <= 0) break;
          const aTo = regionByName.get(b.region);
          const bTo = regionByName.get(a.region);
          if (b === a || aTo === undefined || bTo === undefined || a.region === b.region) continue;
          if (allowed(a, aTo) && allowed(b, bTo))
            consider([
              { a, to: b.region },
              { a: b, to: a.region },
            ]);
        }
    const chosen: { change: number; moves: { a: ShadowAssignment; to: string }[] } | undefined = best;
    if (chosen === undefined) return;
    relocate(chosen.moves);
  }
}

const everyRegionFits = (ledger: RegionLedger, regions: readonly RegionSpec[]): boolean =>
  regions.every((r) => fitsWithin(ledger.worstDemand(r.name), r.shadowCapacity));

/**
 * Evens out each diversity group's shadows over the regions after the greedy pass, which places one shadow at a
 * time and can end up with 3/2/1 where 2/2/2 is possible. While some region holds at least two more of a group's
 * shadows than another, it looks for a chain of moves (a shadow from the crowded region to a second region, one of
 * that region's to a third, … ending in the sparse one; breadth-first, so the shortest chain) that respects the
 * primaries' regions, exclusions and host sizes, and applies it only if every region still fits its worst outage.
 * Kept assignments never move.
 */
function rebalanceGroups(
  regions: readonly RegionSpec[],
  primaryById: ReadonlyMap<string, PrimarySpec>,
  kept: readonly ShadowAssignment[],
  placed: ShadowAssignment[],
  fraction: number,
  excluded: ReadonlySet<string>,
): void {
  const open = regions.filter((r) => !excluded.has(r.name));
  const groups = [...new Set(placed.map((a) => primaryById.get(a.primaryHostId)?.diversityGroup))]
    .filter((g): g is string => g !== undefined)
    .sort(byName);
  const groupOf = (a: ShadowAssignment): string | undefined => primaryById.get(a.primaryHostId)?.diversityGroup;
  const canMove = (a: ShadowAssignment, to: RegionSpec): boolean => {
    const primary = primaryById.get(a.primaryHostId);
    return primary !== undefined && primary.region !== to.name && fitsWithin(primary.capacity, to.maxHostCapacity);
  };

  for (const group of groups) {
    // Each applied chain lowers the group's spread, so this ends; the bound guards against a bug turning it endless.
    for (let attempt = 0; attempt < placed.length * open.length; attempt++) {
      const counts = new Map(open.map((r) => [r.name, 0]));
      for (const a of [...kept, ...placed])
        if (groupOf(a) === group && counts.has(a.region)) counts.set(a.region, (counts.get(a.region) ?? 0) + 1);
      const chain = findBalancingChain(open, counts, placed, group, groupOf, canMove);
      if (chain === undefined) break;
      const before = chain.map((step) => step.assignment.region);
      for (const step of chain) step.assignment.region = step.to;
      if (!everyRegionFits(ledgerOf(regions, primaryById, [...kept, ...placed], fraction), regions)) {
        chain.forEach((step, i) => (step.assignment.region = before[i] ?? step.assignment.region));
        break;
      }
    }
  }
}

interface ChainStep {
  assignment: ShadowAssignment;
  to: string;
}

function findBalancingChain(
  open: readonly RegionSpec[],
  counts: ReadonlyMap<string, number>,
  placed: readonly ShadowAssignment[],
  group: string,
  groupOf: (a: ShadowAssignment) => string | undefined,
  canMove: (a: ShadowAssignment, to: RegionSpec) => boolean,
): ChainStep[] | undefined {
  const count = (name: string): number => counts.get(name) ?? 0;
  const sources = [...open].sort((a, b) => count(b.name) - count(a.name) || byName(a.name, b.name));
  for (const source of sources) {
    const limit = count(source.name) - 2;
    if (limit < 0) continue;
    // Breadth-first over regions; `via` remembers the move that reached each region.
    const via = new Map<string, ChainStep & { from: string }>();
    const queue = [source.name];
    const seen = new Set(queue);
    while (queue.length > 0) {
      const current = queue.shift() ?? '';
      if (current !== source.name && count(current) <= limit) {
        const chain: ChainStep[] = [];
        for (let at = current; at !== source.name;) {
          const step = via.get(at);
          if (step === undefined) break;
          chain.unshift({ assignment: step.assignment, to: step.to });
          at = step.from;
        }
        return chain;
      }
      const movable = placed
        .filter((a) => a.region === current && groupOf(a) === group)
        .sort((a, b) => byName(a.primaryHostId, b.primaryHostId));
      for (const next of open) {
        if (seen.has(next.name)) continue;
        const mover = movable.find((a) => canMove(a, next));
        if (mover === undefined) continue;
        seen.add(next.name);
        via.set(next.name, { assignment: mover, to: next.name, from: current });
        queue.push(next.name);
      }
    }
  }
  return undefined;
}

function keepFaults(topology: Topology, keep: readonly ShadowAssignment[]): PlacementProblem[] {
  const problems: PlacementProblem[] = [];
  const primaryById = new Map(topology.primaries.map((p) => [p.hostId, p]));
  const regionByName = new Map(topology.regions.map((r) => [r.name, r]));
  const seen = new Set<string>();
  for (const a of keep) {
    const primary = primaryById.get(a.primaryHostId);
    const region = regionByName.get(a.region);
    if (seen.has(a.primaryHostId))
      problems.push({
        kind: 'duplicate-host',
        hostId: a.primaryHostId,
        message: `Primary ${a.primaryHostId} has more than one shadow assignment to keep.`,
      });
    seen.add(a.primaryHostId);
    if (primary === undefined)
      problems.push({
        kind: 'unknown-host',
        hostId: a.primaryHostId,
        message: `A kept shadow assignment names primary ${a.primaryHostId}, which the topology does not list.`,
      });
    if (region === undefined)
      problems.push({
        kind: 'unknown-region',
        hostId: a.primaryHostId,
        region: a.region,
        message: `The kept shadow of ${a.primaryHostId} is in region ${a.region}, which the topology does not list.`,
      });
    else if (!region.zones.includes(a.zone))
      problems.push({
        kind: 'unknown-zone',
        hostId: a.primaryHostId,
        region: a.region,
        message: `The kept shadow of ${a.primaryHostId} is in zone ${a.zone}, which region ${a.region} does not list.`,
      });
    if (primary !== undefined && primary.region === a.region)
      problems.push({
        kind: 'not-resilient',
        hostId: a.primaryHostId,
        region: a.region,
        message: `The kept shadow of ${a.primaryHostId} is in its primary's own region ${a.region}.`,
      });
  }
  return problems;
}

/**
 * Places a shadow for every primary not in `options.keep`: never in the primary's region nor an excluded one, the
 * shadows of one diversity group spread over as many regions as possible, each in the least-used zone of its region.
 * Greedy, largest primary first, into the feasible region with the fewest shadows of its group, then the most
 * worst-case headroom; then a local search moves shadows out of any region whose worst outage still overflows, and
 * chains of moves even out each group over the regions. If that does not prove resilient, a second attempt ranks
 * regions by headroom before spread. The result is verified by
 * `proveRegionalResilience`; an unprovable placement is returned as problems, never as assignments. Excluded regions
 * the topology does not list are ignored (nothing to avoid); kept assignments are checked and never moved.
 */
export function placeShadows(topology: Topology, options: PlacementOptions): PlacementResult {
  const upfront = [...validateTopology(topology), ...optionFaults(options)];
  if (upfront.length > 0) return { ok: false, problems: upfront };
  const keep = options.keep ?? [];
  const keptProblems = keepFaults(topology, keep);
  if (keptProblems.length > 0) return { ok: false, problems: keptProblems };

  const fraction = options.shadowFraction;
  const excluded = new Set(options.excludeRegions ?? []);
  // Of the failed attempts, report the one closest to fitting: its problems say best how much room is missing.
  let closest: { problems: PlacementProblem[]; shortfall: number } | undefined;
  for (const order of ['spread-first', 'headroom-first'] as const) {
    const { assignments, unplaced } = greedyPlacement(topology, fraction, keep, excluded, order);
    const problems: PlacementProblem[] = unplaced.map((p) => ({
      kind: 'insufficient-shadow-capacity',
      hostId: p.hostId,
      region: p.region,
      message: `No region other than ${p.region}${excluded.size > 0 ? ` and the excluded ${[...excluded].sort(byName).join(', ')}` : ''} can host a full-size shadow of ${p.hostId}.`,
    }));
    let shortfall = Infinity;
    if (problems.length === 0) {
      const report = proveRegionalResilience(topology, assignments, fraction);
      if (report.resilient) return { ok: true, assignments };
      problems.push(...report.problems);
      shortfall = report.outages.reduce(
        (sum, outage) =>
          sum +
          outage.uncovered.length +
          outage.demands.reduce((acc, d) => acc + Math.max(0, -minHeadroomShare(d.required, d.available)), 0),
        0,
      );
    }
    if (closest === undefined || shortfall < closest.shortfall) closest = { problems, shortfall };
  }
  return { ok: false, problems: closest?.problems ?? [] };
}

/**
 * Proves (or refutes) that the assignments survive the outage of any single region. Each assignment's own
 * allocationFraction is its standby footprint when valid, else `shadowFraction`.
 */
export function proveRegionalResilience(
  topology: Topology,
  assignments: readonly ShadowAssignment[],
  shadowFraction: number,
): ResilienceReport {
  const problems: PlacementProblem[] = [];
  const regions = [...topology.regions].sort((a, b) => byName(a.name, b.name));
  const regionByName = new Map(regions.map((r) => [r.name, r]));
  const primaries = [...topology.primaries].sort((a, b) => byName(a.hostId, b.hostId));
  const primaryById = new Map(primaries.map((p) => [p.hostId, p]));

  const shadowOf = new Map<string, ShadowAssignment>();
  for (const a of [...assignments].sort((x, y) => byName(x.primaryHostId, y.primaryHostId))) {
    if (!primaryById.has(a.primaryHostId)) {
      problems.push({
        kind: 'unknown-host',
        hostId: a.primaryHostId,
        message: `A shadow assignment names primary ${a.primaryHostId}, which the topology does not list.`,
      });
      continue;
    }
    if (!regionByName.has(a.region)) {
      problems.push({
        kind: 'unknown-region',
        hostId: a.primaryHostId,
        region: a.region,
        message: `The shadow of ${a.primaryHostId} is in region ${a.region}, which the topology does not list.`,
      });
      continue;
    }
    if (shadowOf.has(a.primaryHostId)) {
      problems.push({
        kind: 'duplicate-host',
        hostId: a.primaryHostId,
        message: `Primary ${a.primaryHostId} has more than one shadow assignment; only the first (by order) is counted.`,
      });
      continue;
    }
    shadowOf.set(a.primaryHostId, a);
  }

  const fractionOf = (a: ShadowAssignment): number => standbyFraction(a, shadowFraction);
  // Standby footprints per region, in every outage (a failed region's own shadows are lost, not counted).
  const standby = new Map<string, Capacity>(regions.map((r) => [r.name, zeroCapacity()]));
  for (const [hostId, a] of shadowOf) {
    const primary = primaryById.get(hostId);
    if (primary === undefined) continue;
    standby.set(
      a.region,
      addCapacity(standby.get(a.region) ?? zeroCapacity(), scaleCapacity(primary.capacity, fractionOf(a))),
    );
  }

  const outages: ResilienceReport['outages'] = [];
  for (const failed of regions) {
    const affected = primaries.filter((p) => p.region === failed.name);
    const uncovered: string[] = [];
    const growth = new Map<string, Capacity>(regions.map((r) => [r.name, zeroCapacity()]));
    for (const primary of affected) {
      const a = shadowOf.get(primary.hostId);
      if (a === undefined || a.region === failed.name) {
        uncovered.push(primary.hostId);
        problems.push({
          kind: 'not-resilient',
          hostId: primary.hostId,
          region: failed.name,
          message:
            a === undefined
              ? `If region ${failed.name} fails, primary ${primary.hostId} has no shadow at all.`
              : `If region ${failed.name} fails, primary ${primary.hostId} loses its shadow too: both are in ${failed.name}.`,
        });
        continue;
      }
      const target = regionByName.get(a.region);
      if (target !== undefined && !fitsWithin(primary.capacity, target.maxHostCapacity)) {
        uncovered.push(primary.hostId);
        const over = exceededResources(primary.capacity, target.maxHostCapacity).map((r) =>
          formatAmount(primary.capacity, r),
        );
        problems.push({
          kind: 'not-resilient',
          hostId: primary.hostId,
          region: a.region,
          message: `If region ${failed.name} fails, the shadow of ${primary.hostId} in ${a.region} cannot grow to full size (${over.join(', ')}): no host in ${a.region} is that large.`,
        });
      }
      growth.set(
        a.region,
        addCapacity(growth.get(a.region) ?? zeroCapacity(), scaleCapacity(primary.capacity, 1 - fractionOf(a))),
      );
    }

    const demands: ResilienceReport['outages'][number]['demands'] = [];
    for (const survivor of regions) {
      if (survivor.name === failed.name) continue;
      const required = addCapacity(
        standby.get(survivor.name) ?? zeroCapacity(),
        growth.get(survivor.name) ?? zeroCapacity(),
      );
      const fits = fitsWithin(required, survivor.shadowCapacity);
      demands.push({ region: survivor.name, required, available: { ...survivor.shadowCapacity }, fits });
      if (!fits) {
        const over = exceededResources(required, survivor.shadowCapacity).map(
          (r) =>
            `${formatAmount(required, r)} needed, ${formatAmount(survivor.shadowCapacity, r).replace(/^\S+ /, '')} available`,
        );
        problems.push({
          kind: 'insufficient-shadow-capacity',
          region: survivor.name,
          message: `If region ${failed.name} fails, region ${survivor.name} cannot grow its shadows to full size: ${over.join('; ')}.`,
        });
      }
    }
    outages.push({ failedRegion: failed.name, affectedPrimaries: affected.map((p) => p.hostId), demands, uncovered });
  }

  const resilient =
    problems.length === 0 && outages.every((o) => o.uncovered.length === 0 && o.demands.every((d) => d.fits));
  return { resilient, outages, problems };
}

/**
 * Where a new shadow for `primaryHostId` should go, e.g. after a failover consumed its shadow: the primary (in the
 * topology as it is now, the promoted former shadow) keeps its region, the other assignments stay, and the new
 * shadow goes to the region that keeps the fleet resilient with the most headroom. Any existing assignment of
 * `primaryHostId` is ignored (it was consumed). When no region keeps the fleet resilient the result is the problems,
 * with the best non-resilient choice as `bestEffort` for a caller that prefers some shadow to none.
 */
export function chooseReplacementShadowRegion(
  topology: Topology,
  assignments: readonly ShadowAssignment[],
  primaryHostId: string,
  options: PlacementOptions,
): ReplacementResult {
  const upfront = [...validateTopology(topology), ...optionFaults(options)];
  if (upfront.length > 0) return { ok: false, problems: upfront };
  const primary = topology.primaries.find((p) => p.hostId === primaryHostId);
  if (primary === undefined)
    return {
      ok: false,
      problems: [
        {
          kind: 'unknown-host',
          hostId: primaryHostId,
          message: `Primary ${primaryHostId} is not in the topology, so no replacement shadow can be placed for it.`,
        },
      ],
    };

  const fraction = options.shadowFraction;
  const others = assignments
    .filter((a) => a.primaryHostId !== primaryHostId)
    .sort((a, b) => byName(a.primaryHostId, b.primaryHostId));
  const regions = [...topology.regions].sort((a, b) => byName(a.name, b.name));
  const ledger = new RegionLedger(regions);
  const primaryById = new Map(topology.primaries.map((p) => [p.hostId, p]));
  for (const a of others) {
    const p = primaryById.get(a.primaryHostId);
    if (p !== undefined) ledger.add(p, a, standbyFraction(a, fraction));
  }
  const excluded = new Set(options.excludeRegions ?? []);
  const ranked = rankCandidates(ledger, regions, primary, fraction, excluded, 'spread-first');
  const bestFirst = ranked[0];
  if (bestFirst === undefined)
    return {
      ok: false,
      problems: [
        {
          kind: 'insufficient-shadow-capacity',
          hostId: primaryHostId,
          region: primary.region,
          message: `No region other than ${primary.region}${excluded.size > 0 ? ` and the excluded ${[...excluded].sort(byName).join(', ')}` : ''} can host a full-size shadow of ${primaryHostId}.`,
        },
      ],
    };

  let firstReport: ResilienceReport | undefined;
  let bestEffort: ShadowAssignment | undefined;
  for (const candidate of ranked) {
    const assignment: ShadowAssignment = {
      primaryHostId,
      region: candidate.region.name,
      zone: ledger.pickZone(candidate.region),
      allocationFraction: fraction,
    };
    bestEffort ??= assignment;
    const report = proveRegionalResilience(topology, [...others, assignment], fraction);
    if (report.resilient) return { ok: true, assignment };
    firstReport ??= report;
  }
  return {
    ok: false,
    problems: firstReport?.problems ?? [],
    ...(bestEffort === undefined ? {} : { bestEffort }),
  };
}
