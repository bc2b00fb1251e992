/**
 * A pair's demand history that follows its workloads, not its hosts. Read by host, the history breaks at every
 * failover and off-peak swap: the new primary's past is its standby load, so the forecast sees the pair's demand
 * jump at the role change (a wide interval, and a seasonal-naive that replays the wrong day). So each complete step
 * of the pair's demand is recorded once, in units that do not depend on which host carried it, and the forecast
 * reads the record where it has one and the hosts' own series elsewhere. Pure, beside the line protocol it writes.
 */
import { PAIR_DEMAND_MEASUREMENT, type PairDemandPoint, type UtilisationWindow } from './types.js';
import { escapeFieldString, escapeTag } from './utilisation.js';

/** Pair demand steps as line protocol (ms precision); a point is keyed by pair, resource and step. */
export function pairDemandLines(points: PairDemandPoint[]): string[] {
  return points.map(
    (p) =>
      `${PAIR_DEMAND_MEASUREMENT},pair=${escapeTag(p.pairId)},resource=${p.resource} ` +
      `demand=${p.demand},primary_host=${escapeFieldString(p.primaryHostId)} ${p.time.getTime()}`,
  );
}

export interface FollowedPairDemand {
  /**
   * The pair's demand in percent of the primary's allocated capacity now: the record where it has a step, the live
   * hosts' where their roles held, a gap elsewhere.
   */
  window: UtilisationWindow;
  /** Live steps to record: complete ones the record lacks, from the time the current roles held. */
  toRecord: PairDemandPoint[];
  /** How many steps of the window came from the record. */
  recordedSteps: number;
}

/**
 * Merges a pair's recorded demand into the live window read from its current hosts.
 *
 * The live window shows the pair's demand only from the step after the current roles began (`rolesSince`, the
 * failover or swap decision; absent for a pair on its first roles, whose hosts are right all along). Before it, the
 * current primary's series is its standby past: such a step comes from the record or is a gap, and is never
 * recorded. The step the roles changed in is split between the two hosts and counts as before. A step is complete
 * once a sample after its end has arrived.
 */
export function followPairDemand(args: {
  pairId: string;
  primaryHostId: string;
  /** The pair's demand read from its current hosts, in percent of the primary's allocated capacity. */
  live: UtilisationWindow;
  /** This pair's recorded points of the live window's resource. */
  recorded: PairDemandPoint[];
  /** The primary's allocated capacity of the resource now, in its units: percent ↔ units. */
  allocated: number;
  /** Data time of the newest sample. */
  newestSampleAt: number;
  /** Data time of the decision that gave the current primary its role; absent while the pair has its first roles. */
  rolesSince?: number;
}): FollowedPairDemand {
  const { live, allocated } = args;
  if (!(allocated > 0)) return { window: live, toRecord: [], recordedSteps: 0 };
  const start = Date.parse(live.start);
  const stepMs = live.stepSeconds * 1000;
  const fromRecord = new Array<number | undefined>(live.values.length).fill(undefined);
  for (const point of args.recorded) {
    if (point.resource !== live.resource || !Number.isFinite(point.demand)) continue;
    const i = (point.time.getTime() - start) / stepMs;
    if (!Number.isInteger(i) || i < 0 || i >= live.values.length) continue;
    fromRecord[i] = (point.demand / allocated) * 100;
  }
  const liveHolds = (i: number) => args.rolesSince === undefined || start + i * stepMs >= args.rolesSince;
  const toRecord: PairDemandPoint[] = [];
  const values = live.values.map((value, i) => {
    const recorded = fromRecord[i];
    if (recorded !== undefined) return recorded;
    if (!liveHolds(i)) return null;
    if (value !== null && start + (i + 1) * stepMs <= args.newestSampleAt)
      toRecord.push({
        pairId: args.pairId,
        resource: live.resource,
        time: new Date(start + i * stepMs),
        demand: (value / 100) * allocated,
        primaryHostId: args.primaryHostId,
      });
    return value;
  });
  return {
    window: { ...live, values },
    toRecord,
    recordedSteps: fromRecord.filter((v) => v !== undefined).length,
  };
}
