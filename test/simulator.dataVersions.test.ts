import { describe, expect, it } from 'vitest';
import { Fleet, initialFleetState } from '../src/simulator/fleet.js';

// Data versions follow the clock lazily: worked out where read and before a host changes. Whatever the clock's step,
// a primary writes 10 versions a second, its replica trails it by the 2 s lag, and a replica whose source dies keeps
// what it had received (the versions a failover loses).
const SIZE = { cpuCores: 16, memoryGiB: 64, storageIops: 10_000, networkMbps: 5_000 };
const START_MS = Date.parse('2026-01-05T00:00:00Z');

function pairedFleet() {
  const fleet = new Fleet(initialFleetState(START_MS), new Map(), 60_000);
  const [primary] = fleet.seed({ prefix: 'p', count: 1, regions: ['us-east'], capacity: SIZE }).hostIds;
  const [shadow] = fleet.seed({
    prefix: 's',
    count: 1,
    regions: ['eu-west'],
    capacity: SIZE,
    role: 'shadow',
    allocationFraction: 0.15,
  }).hostIds;
  fleet.startReplication({ sourceHostId: primary!, targetHostId: shadow!, idempotencyKey: 'replicate' });
  fleet.advance(START_MS + 10_000); // the replication's start takes 3 s
  return { fleet, primary: primary!, shadow: shadow! };
}

/** Moves the clock to `toMs` in steps of `stepMs` (a ticking simulator) or at once (`stepMs` 0). */
function runTo(fleet: Fleet, toMs: number, stepMs: number) {
  if (stepMs > 0) for (let t = fleet.state.simulatedMs + stepMs; t < toMs; t += stepMs) fleet.advance(t);
  fleet.advance(toMs);
}

describe('simulator: data versions', () => {
  it.each([0, 100, 7_000])('a replica trails its primary by the lag, stepping the clock by %i ms', (stepMs) => {
    const { fleet, primary, shadow } = pairedFleet();
    runTo(fleet, START_MS + 60_000, stepMs);
    const replication = fleet.verifyReplication({ sourceHostId: primary, targetHostId: shadow });
    expect(replication.state).toBe('streaming');
    // Written from the primary's seeding at START_MS; received up to two seconds ago.
    expect(replication.sourceVersion).toBe(600);
    expect(replication.targetVersion).toBe(580);
    expect(fleet.publicHost(fleet.host(primary)).dataVersion).toBe(600);
  });

  it.each([0, 100, 7_000])('a dead primary stops writing and its replica keeps what it had, by %i ms', (stepMs) => {
    const { fleet, primary, shadow } = pairedFleet();
    runTo(fleet, START_MS + 30_000, stepMs);
    fleet.failHost(primary);
    runTo(fleet, START_MS + 90_000, stepMs);
    const replication = fleet.verifyReplication({ sourceHostId: primary, targetHostId: shadow });
    expect(replication.state).toBe('broken');
    expect([replication.sourceVersion, replication.targetVersion, replication.lagVersions]).toEqual([300, 280, 20]);
  });

  it('versions written before a restart are kept, and grow from the saved clock', () => {
    const { fleet, primary } = pairedFleet();
    fleet.advance(START_MS + 20_000);
    // A state file from before versions were lazy has no dataAtMs: the file's clock is when they were last moved.
    const saved = JSON.parse(JSON.stringify(fleet.state)) as typeof fleet.state;
    for (const host of Object.values(saved.hosts)) {
      host.dataVersion = host.id === primary ? 200 : host.dataVersion;
      delete host.dataAtMs;
    }
    const restarted = new Fleet(saved, new Map(), 60_000);
    restarted.advance(START_MS + 25_000);
    expect(restarted.publicHost(restarted.host(primary)).dataVersion).toBe(250);
  });
});
