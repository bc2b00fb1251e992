/** A fleet of primaries on a real simulator, for `fleetWorkflow` tests: regions, hosts, workloads, a worker. */
import { randomUUID } from 'node:crypto';
import type { Topology } from '../../src/policy/types.js';
import { HOST_SIZE } from './pair.js';
import type { TestSimulator } from './simulator.js';

export const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;

/** A topology of `perRegion` primaries in each of three regions, every region able to absorb another's outage. */
export function threeRegionTopology(perRegion: number, tag = randomUUID().slice(0, 4)): Topology {
  const scale = (n: number) => ({
    cpuCores: HOST_SIZE.cpuCores * n,
    memoryGiB: HOST_SIZE.memoryGiB * n,
    storageIops: HOST_SIZE.storageIops * n,
    networkMbps: HOST_SIZE.networkMbps * n,
  });
  return {
    regions: REGIONS.map((name) => ({
      name,
      zones: [`${name}-a`, `${name}-b`],
      shadowCapacity: scale(perRegion + 1),
      maxHostCapacity: HOST_SIZE,
    })),
    primaries: REGIONS.flatMap((region, r) =>
      Array.from({ length: perRegion }, (_, i) => ({
        hostId: `${region.split('-')[0]}-${tag}-${i + 1}`,
        region,
        zone: `${region}-${i % 2 === 0 ? 'a' : 'b'}`,
        capacity: HOST_SIZE,
        diversityGroup: `group-${(r + i) % 2}`,
      })),
    ),
  };
}

/** Creates the topology's primaries in the simulator (active, configured) with one workload each. */
export async function createPrimaries(sim: TestSimulator, topology: Topology): Promise<void> {
  await Promise.all(
    topology.primaries.map(async (p) => {
      await sim.provider.waitForOperation(
        await sim.provider.provisionHost({
          hostId: p.hostId,
          region: p.region,
          zone: p.zone,
          capacity: p.capacity,
          role: 'primary',
          idempotencyKey: `create:${p.hostId}`,
        }),
      );
      await sim.provider.waitForOperation(
        await sim.provider.syncConfiguration({
          hostId: p.hostId,
          desired: { image: 'app:1.0' },
          idempotencyKey: `cfg:${p.hostId}`,
        }),
      );
      await sim.control.createWorkload({
        workloadId: `w-${p.hostId}`,
        hostId: p.hostId,
        requirements: { cpuCores: 4, memoryGiB: 8, storageIops: 1_000, networkMbps: 500 },
        demand: { kind: 'synthetic', base: 0.5, noise: 0.02, seed: 7 },
      });
    }),
  );
}
