/**
 * The simulator's model of what workloads make a host report: utilisation in percent of the host's allocation from
 * each workload's demand, and the cumulative disk and network counters Telegraf reports. Pure; shared by the
 * simulator and by the Kubernetes test bed's metrics, so both fleets report alike.
 */
import type { Capacity } from '../provider/types.js';

/** Telegraf-style cumulative counters; they restart from zero when a host comes back from a failure (a reboot). */
export interface HostCounters {
  ioTimeMs: number;
  reads: number;
  writes: number;
  readBytes: number;
  writeBytes: number;
  bytesRecv: number;
  bytesSent: number;
}

export interface UtilisationSample {
  /** Percent of allocated capacity, 0..100. */
  cpu: number;
  memory: number;
  storage: number;
  network: number;
}

/** Baseline use of an idle host (operating system, agents), in percent of its allocation. */
const IDLE_PERCENT: UtilisationSample = { cpu: 2, memory: 8, storage: 1, network: 0.5 };

/** A workload's share of a host's load: what it reserves, and its demand now as a multiple of that. */
export interface WorkloadLoad {
  requirements: Capacity;
  demand: number;
}

/** What a host at its allocation reports with these workloads on it (and the replication stream it applies). */
export function hostUtilisation(
  host: { capacity: Capacity; allocationFraction: number },
  load: readonly WorkloadLoad[],
  replicating: boolean,
): UtilisationSample {
  const sample = { ...IDLE_PERCENT };
  if (replicating) sample.storage += 3; // applying the replication stream
  const f = host.allocationFraction;
  for (const { requirements: r, demand: d } of load) {
    sample.cpu += (100 * r.cpuCores * d) / (host.capacity.cpuCores * f);
    // Memory is sticky: half of it stays resident whatever the load.
    sample.memory += (100 * r.memoryGiB * (0.5 + 0.5 * d)) / (host.capacity.memoryGiB * f);
    sample.storage += (100 * r.storageIops * d) / (host.capacity.storageIops * f);
    sample.network += (100 * r.networkMbps * d) / (host.capacity.networkMbps * f);
  }
  return {
    cpu: Math.min(100, sample.cpu),
    memory: Math.min(100, sample.memory),
    storage: Math.min(100, sample.storage),
    network: Math.min(100, sample.network),
  };
}

export const zeroCounters = (): HostCounters => ({
  ioTimeMs: 0,
  reads: 0,
  writes: 0,
  readBytes: 0,
  writeBytes: 0,
  bytesRecv: 0,
  bytesSent: 0,
});

const IO_BLOCK_BYTES = 16_384;

/** Counters grow by what the utilisation means over the interval: busy disk time, operations, bytes on the wire. */
export function advanceCounters(
  host: { capacity: Capacity; allocationFraction: number; counters: HostCounters },
  u: UtilisationSample,
  intervalMs: number,
): void {
  const c = host.counters;
  const seconds = intervalMs / 1000;
  const f = host.allocationFraction;
  c.ioTimeMs += Math.round((u.storage / 100) * intervalMs);
  const ops = (u.storage / 100) * host.capacity.storageIops * f * seconds;
  const reads = Math.round(ops * 0.6);
  const writes = Math.round(ops * 0.4);
  c.reads += reads;
  c.writes += writes;
  c.readBytes += reads * IO_BLOCK_BYTES;
  c.writeBytes += writes * IO_BLOCK_BYTES;
  // The busier direction carries the utilisation; the other runs at 60% of it.
  const bytes = Math.round(((u.network / 100) * host.capacity.networkMbps * f * 1e6 * seconds) / 8);
  c.bytesRecv += bytes;
  c.bytesSent += Math.round(bytes * 0.6);
}
