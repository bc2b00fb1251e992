/**
 * Between Understudy's `Capacity` and Kubernetes resource lists: cpu in cores (or millicores), memory in bytes with
 * binary or decimal suffixes, and the two extended resources counted as integers.
 */
import type { Capacity } from '../types.js';
import { NETWORK_MBPS_RESOURCE, STORAGE_IOPS_RESOURCE } from './names.js';

const SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("1500m", "16Gi", "2", "1e3") as a number; throws on anything else. */
export function parseQuantity(quantity: string): number {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(quantity.trim());
  const scale = match ? SUFFIXES[match[2]!] : undefined;
  if (!match || scale === undefined) throw new Error(`"${quantity}" is not a Kubernetes quantity`);
  return Number(match[1]) * scale;
}

const GIB = 2 ** 30;

/** The resource list a node offers, or a pod requests, for a capacity (rounded down to what Kubernetes counts). */
export function resourceList(capacity: Capacity): Record<string, string> {
  return {
    cpu: `${Math.floor(capacity.cpuCores * 1000)}m`,
    memory: `${Math.floor((capacity.memoryGiB * GIB) / 2 ** 20)}Mi`,
    [STORAGE_IOPS_RESOURCE]: String(Math.floor(capacity.storageIops)),
    [NETWORK_MBPS_RESOURCE]: String(Math.floor(capacity.networkMbps)),
  };
}

/** The capacity a resource list describes; a resource it leaves out counts as 0. */
export function capacityOf(resources: Record<string, string> | undefined): Capacity {
  const read = (name: string): number => (resources?.[name] === undefined ? 0 : parseQuantity(resources[name]));
  return {
    cpuCores: read('cpu'),
    memoryGiB: read('memory') / GIB,
    storageIops: read(STORAGE_IOPS_RESOURCE),
    networkMbps: read(NETWORK_MBPS_RESOURCE),
  };
}
