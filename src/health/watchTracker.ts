/**
 * The bookkeeping of one health watcher, free of I/O so it is tested on its own: which primaries are due for a
 * check, how many consecutive checks each has failed, and when a failure is confirmed enough to report.
 *
 * Cadence: every member's checks fall on one grid per interval (multiples of the interval plus the watcher's
 * offset), so a shard's primaries are checked in one provider call however they joined; a new member is checked at
 * once and then joins the grid. A failed check is confirmed `CONFIRMATION_DELAY_MS` later rather than a whole
 * interval later, until `failuresBeforeFailover` checks in a row have failed; then it is reported, and again (with
 * the same update id, so a pair that took it answers as before) at the next failed check when the report did not
 * reach the pair, and every REPORT_AGAIN_AFTER_MS while the primary keeps failing (a pair that refused an earlier
 * report, which the watcher cannot tell from one it took, looks at the new evidence).
 */
import {
  CONFIRMATION_DELAY_MS,
  REPORT_AGAIN_AFTER_MS,
  type CarriedFailures,
  type WatchedPrimary,
} from '../shared/healthWatch.js';

export interface CheckAnswer {
  healthy: boolean;
  status: string;
  /** Provider clock, epoch ms. */
  checkedAt: number;
}

export interface FailureToReport {
  member: WatchedPrimary;
  failedChecksAt: number[];
  status: string;
}

interface Entry {
  member: WatchedPrimary;
  nextDueAt: number;
  failedChecksAt: number[];
  /** When the failure was last reported (watcher clock); absent while it has not been, or did not arrive. */
  reportedAt?: number;
}

const sameMember = (a: WatchedPrimary, b: WatchedPrimary): boolean =>
  a.primaryHostId === b.primaryHostId &&
  a.generation === b.generation &&
  a.intervalSeconds === b.intervalSeconds &&
  a.failuresBeforeFailover === b.failuresBeforeFailover;

export class WatchTracker {
  private readonly entries = new Map<string, Entry>();

  /**
   * `offsetFraction` of an interval shifts this watcher's grid, so two lanes check at different moments; `carried`
   * failures are taken up by members that join with the same primary.
   */
  constructor(
    private readonly offsetFraction = 0,
    private carried: CarriedFailures = {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Replaces the membership: new members are due at once, changed ones start over, missing ones leave. */
  setMembers(members: readonly WatchedPrimary[], now: number): void {
    const seen = new Set<string>();
    for (const member of members) {
      seen.add(member.pairId);
      const entry = this.entries.get(member.pairId);
      if (entry && sameMember(entry.member, member)) continue;
      const carried = this.carried[member.pairId];
      const failedChecksAt =
        carried && carried.primaryHostId === member.primaryHostId ? [...carried.failedChecksAt] : [];
      this.entries.set(member.pairId, { member, nextDueAt: now, failedChecksAt });
    }
    for (const pairId of this.entries.keys()) if (!seen.has(pairId)) this.entries.delete(pairId);
    this.carried = {};
  }

  remove(pairId: string): void {
    this.entries.delete(pairId);
  }

  /** Members whose check is due at `now`. */
  due(now: number): WatchedPrimary[] {
    const due: WatchedPrimary[] = [];
    for (const entry of this.entries.values()) if (entry.nextDueAt <= now) due.push(entry.member);
    return due;
  }

  /** When the next check falls due (Infinity with no members). */
  nextDueAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) next = Math.min(next, entry.nextDueAt);
    return next;
  }

  private gridAfter(now: number, intervalMs: number): number {
    const offset = this.offsetFraction * intervalMs;
    return Math.floor((now - offset) / intervalMs + 1) * intervalMs + offset;
  }

  /**
   * Records one member's check at `now` (watcher clock). `answer` absent means the provider did not answer for it:
   * that is no evidence either way, so nothing is counted. Returns the failure to report, when this check completes
   * the evidence.
   */
  record(pairId: string, answer: CheckAnswer | undefined, now: number): FailureToReport | undefined {
    const entry = this.entries.get(pairId);
    if (!entry) return undefined;
    const intervalMs = entry.member.intervalSeconds * 1000;
    if (!answer) {
      entry.nextDueAt = this.gridAfter(now, intervalMs);
      return undefined;
    }
    if (answer.healthy) {
      entry.failedChecksAt = [];
      entry.reportedAt = undefined;
      entry.nextDueAt = this.gridAfter(now, intervalMs);
      return undefined;
    }
    entry.failedChecksAt.push(answer.checkedAt);
    const enough = entry.failedChecksAt.length >= entry.member.failuresBeforeFailover;
    if (!enough) {
      entry.nextDueAt = now + CONFIRMATION_DELAY_MS;
      return undefined;
    }
    entry.nextDueAt = this.gridAfter(now, intervalMs);
    if (entry.reportedAt !== undefined && now - entry.reportedAt < REPORT_AGAIN_AFTER_MS) return undefined;
    entry.reportedAt = now;
    return {
      member: entry.member,
      failedChecksAt: entry.failedChecksAt.slice(-entry.member.failuresBeforeFailover),
      status: answer.status,
    };
  }

  /**
   * The report did not reach the pair (the server was busy, the pair's task failing): the evidence stands, and the
   * next failed check reports it again.
   */
  undelivered(pairId: string): void {
    const entry = this.entries.get(pairId);
    if (entry) entry.reportedAt = undefined;
  }

  /** Members with failed checks not yet reported, for the next run of the watcher. */
  failing(): CarriedFailures {
    const carried: CarriedFailures = {};
    for (const [pairId, entry] of this.entries) {
      if (entry.failedChecksAt.length > 0 && entry.reportedAt === undefined) {
        carried[pairId] = { primaryHostId: entry.member.primaryHostId, failedChecksAt: entry.failedChecksAt };
      }
    }
    return carried;
  }
}
