/**
 * bench:rollout — what planning a rollout costs in workflow code, where it must fit a workflow task (10 s by
 * default) and is replayed: validating every pair against the fleet's spare capacity (pairsBreakingSpare) and
 * splitting the pairs into waves under a budget and the regional-outage proof (planWaves). Fleets of three regions,
 * shadows placed by the placement policy, each region's shadow capacity 90% of its primaries. Pure CPU, no stack.
 *
 * Usage: npm run bench:rollout [-- --json] [--sizes 300,3000,9999] [--repeats 5] [--percent 5]
 */
import { parseArgs } from 'node:util';
import { threeRegionTopology } from '../src/demo/topology.js';
import { placeShadows } from '../src/policy/placement.js';
import { pairsBreakingSpare, planWaves, type RolloutPairRef } from '../src/policy/rollout.js';
import { round, spread } from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    sizes: { type: 'string' },
    repeats: { type: 'string' },
    percent: { type: 'string' },
  },
});
const SIZES = (args.sizes ?? '300,3000,9999').split(',').map(Number);
const REPEATS = Number(args.repeats ?? 5);
const PERCENT = Number(args.percent ?? 5);
if (SIZES.some((n) => !Number.isInteger(n) || n < 3))
  throw new Error(`--sizes must be whole numbers ≥ 3, not ${args.sizes}`);
if (!Number.isInteger(REPEATS) || REPEATS < 1)
  throw new Error(`--repeats must be a whole number ≥ 1, not ${args.repeats}`);
if (!(PERCENT > 0 && PERCENT <= 100)) throw new Error(`--percent must be in (0, 100], not ${args.percent}`);

const HOST = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };

const results = SIZES.map((size) => {
  const perRegion = Math.ceil(size / 3);
  const topology = threeRegionTopology({
    perRegion,
    hostCapacity: HOST,
    shadowHostsPerRegion: Math.ceil(perRegion * 0.9),
    hostId: (region, n) => `${region}-${n}`,
  });
  const placement = placeShadows(topology, { shadowFraction: 0.15 });
  if (!placement.ok) throw new Error(`no placement for ${size} pairs: ${placement.problems[0]?.message}`);
  const shadowRegion = new Map(placement.assignments.map((a) => [a.primaryHostId, a.region]));
  const pairs: RolloutPairRef[] = topology.primaries.map((p) => ({
    pairId: p.hostId,
    primaryRegion: p.region,
    shadowRegion: shadowRegion.get(p.hostId),
    capacity: p.capacity,
  }));
  const spare = { regions: topology.regions, shadowFraction: 0.15 };
  const validateMs: number[] = [];
  const planMs: number[] = [];
  let waves = 0;
  for (let i = 0; i < REPEATS; i++) {
    let t = performance.now();
    const breaking = pairsBreakingSpare(pairs, spare);
    validateMs.push(performance.now() - t);
    if (breaking.length > 0) throw new Error(`${breaking.length} pairs break the spare capacity: ${breaking[0]}`);
    t = performance.now();
    waves = planWaves(pairs, { maxPercentOfRegion: PERCENT }, spare).length;
    planMs.push(performance.now() - t);
  }
  return { pairs: pairs.length, waves, validateMs: spread(validateMs, 1), planMs: spread(planMs, 1) };
});

if (args.json) {
  process.stdout.write(`${JSON.stringify({ repeats: REPEATS, maxPercentOfRegion: PERCENT, results }, null, 2)}\n`);
} else {
  process.stdout.write(`rollout planning, median of ${REPEATS} (budget ${PERCENT}% of a region)\n`);
  for (const r of results)
    process.stdout.write(
      `  ${String(r.pairs).padStart(6)} pairs: validate ${round(r.validateMs.p50)} ms, plan ${round(r.planMs.p50)} ms → ${r.waves} waves\n`,
    );
}
