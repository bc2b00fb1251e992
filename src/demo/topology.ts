/** Three-region topologies of equal hosts, for the demo and the tests: every region can absorb another's outage. */
import type { Capacity } from '../provider/types.js';
import type { Topology } from '../policy/types.js';

export const THREE_REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;

export interface ThreeRegionOptions {
  perRegion: number;
  hostCapacity: Capacity;
  /** Capacity each region gives to shadows, in hosts of `hostCapacity`. */
  shadowHostsPerRegion: number;
  /** The id of the `n`th primary (from 1) of a region. */
  hostId: (region: string, n: number) => string;
}

export function threeRegionTopology({
  perRegion,
  hostCapacity,
  shadowHostsPerRegion,
  hostId,
}: ThreeRegionOptions): Topology {
  const times = (n: number): Capacity => ({
    cpuCores: hostCapacity.cpuCores * n,
    memoryGiB: hostCapacity.memoryGiB * n,
    storageIops: hostCapacity.storageIops * n,
    networkMbps: hostCapacity.networkMbps * n,
  });
  return {
    regions: THREE_REGIONS.map((name) => ({
      name,
      zones: [`${name}-a`, `${name}-b`],
      shadowCapacity: times(shadowHostsPerRegion),
      maxHostCapacity: hostCapacity,
    })),
    primaries: THREE_REGIONS.flatMap((region, r) =>
      Array.from({ length: perRegion }, (_, i) => ({
        hostId: hostId(region, i + 1),
        region,
        zone: `${region}-${i % 2 === 0 ? 'a' : 'b'}`,
        capacity: hostCapacity,
        // Alternating groups, so each group has primaries in every region to spread the shadows of.
        diversityGroup: `group-${(r + i) % 2}`,
      })),
    ),
  };
}
