/**
 * Arithmetic on `Capacity` records, shared by placement and scaling. Pure; every function returns a new record.
 */
import type { Capacity, Resource } from './types.js';

/** The resources in a fixed order, so every loop (and every tie-break that follows one) is deterministic. */
export const POLICY_RESOURCES: readonly Resource[] = ['cpu', 'memory', 'storage', 'network'];

/** Which `Capacity` field measures each resource. */
export const CAPACITY_KEY: Readonly<Record<Resource, keyof Capacity>> = {
  cpu: 'cpuCores',
  memory: 'memoryGiB',
  storage: 'storageIops',
  network: 'networkMbps',
};

const UNIT: Readonly<Record<Resource, string>> = {
  cpu: 'cores',
  memory: 'GiB',
  storage: 'IOPS',
  network: 'Mbps',
};

/** Relative slack for float comparisons: sums of fractions of capacities must not fail a fit by rounding. */
const FIT_TOLERANCE = 1e-9;

export const zeroCapacity = (): Capacity => ({ cpuCores: 0, memoryGiB: 0, storageIops: 0, networkMbps: 0 });

export const amountOf = (capacity: Capacity, resource: Resource): number => capacity[CAPACITY_KEY[resource]];

export const addCapacity = (a: Capacity, b: Capacity): Capacity => ({
  cpuCores: a.cpuCores + b.cpuCores,
  memoryGiB: a.memoryGiB + b.memoryGiB,
  storageIops: a.storageIops + b.storageIops,
  networkMbps: a.networkMbps + b.networkMbps,
});

export const subtractCapacity = (a: Capacity, b: Capacity): Capacity => addCapacity(a, scaleCapacity(b, -1));

export const scaleCapacity = (capacity: Capacity, factor: number): Capacity => ({
  cpuCores: capacity.cpuCores * factor,
  memoryGiB: capacity.memoryGiB * factor,
  storageIops: capacity.storageIops * factor,
  networkMbps: capacity.networkMbps * factor,
});

/** Per resource, the larger of the two. */
export const maxCapacity = (a: Capacity, b: Capacity): Capacity => ({
  cpuCores: Math.max(a.cpuCores, b.cpuCores),
  memoryGiB: Math.max(a.memoryGiB, b.memoryGiB),
  storageIops: Math.max(a.storageIops, b.storageIops),
  networkMbps: Math.max(a.networkMbps, b.networkMbps),
});

/** Whether `required` fits in `available` for every resource (with a hair of float tolerance). */
export const fitsWithin = (required: Capacity, available: Capacity): boolean =>
  POLICY_RESOURCES.every((r) => amountOf(required, r) <= amountOf(available, r) * (1 + FIT_TOLERANCE) + FIT_TOLERANCE);

/** The resources for which `required` exceeds `available`. */
export const exceededResources = (required: Capacity, available: Capacity): Resource[] =>
  POLICY_RESOURCES.filter((r) => amountOf(required, r) > amountOf(available, r) * (1 + FIT_TOLERANCE) + FIT_TOLERANCE);

/**
 * The tightest resource's remaining share once `required` is taken from `available`: 1 = untouched, 0 = full,
 * negative = over. Placement maximises it, so the scarcest resource of a region decides where a shadow goes.
 */
export const minHeadroomShare = (required: Capacity, available: Capacity): number =>
  Math.min(
    ...POLICY_RESOURCES.map((r) => {
      const total = amountOf(available, r);
      return total > 0 ? (total - amountOf(required, r)) / total : -Infinity;
    }),
  );

/** Names the faults of a capacity that must be positive and finite, e.g. `cpuCores is -2`; empty when valid. */
export const capacityFaults = (capacity: Capacity | undefined): string[] => {
  if (capacity === null || typeof capacity !== 'object') return ['capacity is missing'];
  return POLICY_RESOURCES.flatMap((r) => {
    const key = CAPACITY_KEY[r];
    const value: unknown = capacity[key];
    return typeof value === 'number' && Number.isFinite(value) && value > 0
      ? []
      : [`${key} is ${String(value)} (must be a positive finite number)`];
  });
};

/** Rounds for a message: at most one decimal, no trailing `.0` (91.24 → "91.2", 80 → "80"). */
export const formatNumber = (value: number): string => {
  const rounded = Math.round(value * 10) / 10;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
};

/** "cpu 96 cores" */
export const formatAmount = (capacity: Capacity, resource: Resource): string =>
  `${resource} ${formatNumber(amountOf(capacity, resource))} ${UNIT[resource]}`;
