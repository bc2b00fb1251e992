/**
 * The health of the fleet's standbys as the provider reports it: which regions are failed now, which pairs have a
 * failed shadow the fleet should replace (and which it must leave alone), and which shadows the fleet already
 * retired can be decommissioned. Pure and deterministic (hosts are read by an activity; the answer is ordered by
 * name), so the fleet workflow, its activities and the tests share it.
 *
 * The provider exposes no region health, so it is inferred from the hosts: a region is failed when it has live
 * hosts and every one of them is `failed`. Fenced and decommissioned hosts are gone for good whatever their region
 * does, and a host still provisioning has not answered yet, so none of them counts either way.
 */
import type { Host, HostStatus } from '../provider/types.js';

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Statuses that say whether a host's region answers: the rest (provisioning, fenced, decommissioned) say nothing. */
const EVIDENCE: readonly HostStatus[] = ['active', 'inactive', 'failed'];

/** Regions whose live hosts are all failed (at least one), by name. */
export function failedRegions(hosts: readonly Pick<Host, 'region' | 'status'>[]): string[] {
  const seen = new Map<string, { live: number; failed: number }>();
  for (const host of hosts) {
    if (!EVIDENCE.includes(host.status)) continue;
    const count = seen.get(host.region) ?? { live: 0, failed: 0 };
    count.live += 1;
    if (host.status === 'failed') count.failed += 1;
    seen.set(host.region, count);
  }
  return [...seen]
    .filter(([, c]) => c.live > 0 && c.failed === c.live)
    .map(([region]) => region)
    .sort(byName);
}

/** A pair as the fleet recorded it; a swap may have exchanged the two hosts' roles since. */
export interface RecordedPair {
  pairId: string;
  primaryHostId: string;
  shadowHostId?: string;
}

export interface FailedShadow {
  pairId: string;
  /** The failed standby. */
  shadowHostId: string;
  /** The healthy active primary the replacement will replicate from. */
  primaryHostId: string;
  /** The provider has the recorded roles the other way round (the pair swapped since the fleet recorded it). */
  swapped: boolean;
}

/** A failed shadow the fleet must not replace on its own, and why. */
export interface UnreplaceableShadow {
  pairId: string;
  shadowHostId: string;
  reason: string;
}

export interface ShadowHealthReport {
  failedRegions: string[];
  /** Pairs whose standby is failed while their primary serves: each needs a new shadow. */
  failedShadows: FailedShadow[];
  unreplaceable: UnreplaceableShadow[];
  /** Retired shadows the provider can decommission now (not failed inside a failed region, holding nothing). */
  decommissionable: string[];
  /**
   * Retired shadows to keep for now: still failed in a failed region (they are part of its evidence), or holding
   * workloads. Those gone (decommissioned, unknown to the provider) are in neither list.
   */
  keepRetiring: string[];
}

/**
 * Reads the standbys of `pairs` and the shadows being retired against the provider's `hosts`. A pair is left out
 * when its hosts are unknown or their roles are in between (a swap or failover running): the next check sees it
 * settled.
 */
export function assessShadowHealth(
  hosts: readonly Host[],
  pairs: readonly RecordedPair[],
  retiring: readonly string[] = [],
): ShadowHealthReport {
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const down = failedRegions(hosts);
  const failedShadows: FailedShadow[] = [];
  const unreplaceable: UnreplaceableShadow[] = [];
  for (const pair of [...pairs].sort((a, b) => byName(a.pairId, b.pairId))) {
    if (pair.shadowHostId === undefined) continue;
    const recordedPrimary = byId.get(pair.primaryHostId);
    const recordedShadow = byId.get(pair.shadowHostId);
    if (!recordedPrimary || !recordedShadow) continue;
    let standby: Host;
    let serving: Host;
    let swapped: boolean;
    if (recordedShadow.role === 'shadow') {
      [standby, serving, swapped] = [recordedShadow, recordedPrimary, false];
    } else if (recordedPrimary.role === 'shadow') {
      [standby, serving, swapped] = [recordedPrimary, recordedShadow, true];
    } else {
      continue;
    }
    if (standby.status !== 'failed') continue;
    if (standby.workloadIds.length > 0) {
      unreplaceable.push({
        pairId: pair.pairId,
        shadowHostId: standby.id,
        reason: `shadow ${standby.id} failed while carrying workloads (${standby.workloadIds.join(', ')}): the pair must restore them first`,
      });
      continue;
    }
    if (serving.role !== 'primary' || serving.status !== 'active') {
      unreplaceable.push({
        pairId: pair.pairId,
        shadowHostId: standby.id,
        reason: `shadow ${standby.id} failed and primary ${serving.id} is ${serving.status}: nothing healthy to replicate a new shadow from`,
      });
      continue;
    }
    failedShadows.push({ pairId: pair.pairId, shadowHostId: standby.id, primaryHostId: serving.id, swapped });
  }

  const decommissionable: string[] = [];
  const keepRetiring: string[] = [];
  for (const hostId of [...new Set(retiring)].sort(byName)) {
    const host = byId.get(hostId);
    if (!host || host.status === 'decommissioned') continue;
    if (host.status === 'provisioning' || (host.status === 'failed' && down.includes(host.region))) {
      keepRetiring.push(hostId);
    } else if (host.workloadIds.length === 0) {
      decommissionable.push(hostId);
    } else {
      keepRetiring.push(hostId); // workloads arrived on it: never decommission those with it
    }
  }
  return { failedRegions: down, failedShadows, unreplaceable, decommissionable, keepRetiring };
}
