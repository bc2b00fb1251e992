/**
 * The demo on the embedded default (`npm start`): twelve primaries in three regions on the fleet simulator, a fleet
 * that gives each a shadow in another region, and a short scenario an operator can follow in the terminal and in the
 * Temporal Web UI — a paused pair, a demand surge the forecast sees coming, a host failure that fails over, and an
 * off-peak swap fired from its schedule, then a rolling upgrade of the fleet through swaps.
 */
import type { Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import { configSchema, type PolicyConfig } from '../config/schema.js';
import type { Topology } from '../policy/types.js';
import { THREE_REGIONS, threeRegionTopology } from './topology.js';
import { HttpFleetProvider, ProviderError } from '../provider/client.js';
import type { DemandProfile } from '../provider/types.js';
import { SimulatorControl } from '../simulator/control.js';
import { metricsStoreFor } from '../metrics/store.js';
import {
  DEMO_HOST,
  DEMO_ROLES,
  DEMO_WORKLOAD,
  HISTORY_HOURS,
  backgroundDemand,
  surgeDemand,
  playScenario,
  fireOffPeakSwap,
  pauseForChangeFreeze,
  startRollingUpgrade,
  retrainOnHistory,
  startFleet,
  webUiQuery,
  type Say,
  type ScenarioStep,
  type Watch,
} from './scenario.js';

/** How long the demo waits for the simulator to finish writing that history to InfluxDB. */
const HISTORY_WRITE_TIMEOUT_MS = 300_000;

/** Fast loops so that things happen while someone watches (the simulator runs at 60×). */
export const DEMO_POLICY: PolicyConfig = configSchema.parse({
  policy: {
    tickSeconds: 5,
    healthCheckIntervalSeconds: 2,
    failuresBeforeFailover: 3,
    cooldownMinutes: 15,
    scaleBackAfterMinutes: 30,
  },
}).policy;

export function demoTopology(): Topology {
  return threeRegionTopology({
    perRegion: 4,
    hostCapacity: DEMO_HOST,
    shadowHostsPerRegion: 6,
    hostId: (region, n) => `${region}-${n}`,
  });
}

/**
 * Hours from the end of the seeded history (when the fleet starts) to the surge host's daily peak (~96% CPU). Its
 * cosine cycle crosses 80% about 3.6 hours before the peak, so the crossing comes about 2.4 hours after the fleet
 * starts; the fleet takes 75–90 simulated minutes (as many real seconds) to place its shadows and start its pairs on
 * this 2-core machine, and the pair then sees the crossing coming within its 1-hour horizon.
 */
const SURGE_PEAK_HOURS_AHEAD = 6;

/** Demand as a multiple of the workload's reservation; the surge host's daily peak comes in a few hours. */
function demandFor(hostId: string, index: number, simulatedNow: number): DemandProfile {
  if (hostId === DEMO_ROLES.surge) {
    const now = new Date(simulatedNow);
    const peakHour = (now.getUTCHours() + now.getUTCMinutes() / 60 + HISTORY_HOURS + SURGE_PEAK_HOURS_AHEAD) % 24;
    return surgeDemand(peakHour, index);
  }
  return backgroundDemand(index);
}

async function ignoreConflict(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!(error instanceof ProviderError && error.status === 409)) throw error;
  }
}

/** Creates the demo's primaries and workloads; false when an earlier run had (a second run finds them). */
async function seedFleet(
  control: SimulatorControl,
  provider: HttpFleetProvider,
  loaded: LoadedConfig,
  say: Say,
): Promise<boolean> {
  const fleet = await provider.describeFleet();
  const topology = demoTopology();
  if (topology.primaries.every((p) => fleet.hosts.some((h) => h.id === p.hostId))) return false;
  say(
    `creating ${topology.primaries.length} primaries in ${THREE_REGIONS.join(', ')} on the fleet simulator (${loaded.config.provider.url})`,
  );
  const now = Date.parse(fleet.now);
  await Promise.all(
    topology.primaries.map(async (p, i) => {
      const op = await provider.provisionHost({
        hostId: p.hostId,
        region: p.region,
        zone: p.zone,
        capacity: p.capacity,
        role: 'primary',
        idempotencyKey: `demo:create:${p.hostId}`,
      });
      await provider.waitForOperation(op);
      await provider.waitForOperation(
        await provider.syncConfiguration({
          hostId: p.hostId,
          desired: { image: 'shop:4.2', workers: 16 },
          idempotencyKey: `demo:cfg:${p.hostId}`,
        }),
      );
      for (const w of [1, 2, 3]) {
        await ignoreConflict(
          control.createWorkload({
            workloadId: `${p.hostId}-w${w}`,
            hostId: p.hostId,
            requirements: DEMO_WORKLOAD,
            demand: demandFor(p.hostId, i * 3 + w, now),
          }),
        );
      }
    }),
  );
  return true;
}

/** Writes the demo's history: the simulator's clock jumps, then the demo waits until InfluxDB holds all of it. */
async function writeHistory(control: SimulatorControl, loaded: LoadedConfig, say: Say): Promise<void> {
  say(`writing ${HISTORY_HOURS} simulated hours of utilisation history to InfluxDB (the forecasters learn from it)…`);
  const { now: seededTo } = await control.advance(HISTORY_HOURS * 3600);
  // The simulator writes metrics behind its clock: the trainer and the first forecasts need all of them.
  const metrics = metricsStoreFor(loaded);
  const ids = demoTopology().primaries.map((p) => p.hostId);
  const deadline = Date.now() + HISTORY_WRITE_TIMEOUT_MS;
  for (;;) {
    const newest = await metrics.latestSampleTime(ids).catch(() => undefined);
    if (newest && Date.parse(seededTo) - newest.getTime() < 5 * 60_000) break;
    if (Date.now() > deadline) {
      say(`the history is still being written after ${HISTORY_WRITE_TIMEOUT_MS / 1000} s; going on`);
      break;
    }
    await sleep(1_000);
  }
}

/** `retrainScheduleId`: the retrain schedule `understudy up` created, absent when retraining could not start. */
export async function runDemo(
  loaded: LoadedConfig,
  client: Client,
  webUi: string,
  say: Say,
  signal: AbortSignal,
  retrainScheduleId?: string,
): Promise<void> {
  const access = { url: loaded.config.provider.url, token: loaded.secrets.providerToken };
  const control = new SimulatorControl(access);
  const provider = new HttpFleetProvider(access);
  const seededNow = await seedFleet(control, provider, loaded, say);
  if (seededNow) {
    // The scenario's clock runs at real speed while the history is written and the models train, so its timing
    // holds.
    const { speed } = await control.status();
    await control.setSpeed(1);
    try {
      await writeHistory(control, loaded, say);
      if (retrainScheduleId)
        await retrainOnHistory(client, retrainScheduleId, say).catch((error: Error) =>
          say(`retraining failed, the pairs forecast with the shipped models and the baselines: ${error.message}`),
        );
      else say('no retraining (see above): the pairs forecast with the shipped models and the baselines');
    } finally {
      await control.setSpeed(speed);
    }
  }
  const topology = demoTopology();
  const namespace = loaded.config.temporal.namespace;
  const ui = webUiQuery(webUi, namespace);
  const resumed = await startFleet(client, { topology, policy: DEMO_POLICY, seededNow, say });
  say(`  every pair in the Web UI: ${ui("WorkflowType = 'hostPairWorkflow'")}`);

  const watches = new Set<Watch>();
  const moves = { client, webUi, namespace, say };
  const steps: ScenarioStep[] = [
    {
      afterSeconds: 0,
      run: () => {
        say(
          `pair ${DEMO_ROLES.surge}'s demand climbs toward a peak in ${SURGE_PEAK_HOURS_AHEAD} simulated hours; ` +
            'watch it scale out before it crosses 80%',
        );
        say(`  ${ui(`PairId = '${DEMO_ROLES.surge}'`)}`);
        return Promise.resolve();
      },
    },
    { afterSeconds: 20, run: () => pauseForChangeFreeze(moves) },
    {
      afterSeconds: 70,
      run: async () => {
        await control.failHost(DEMO_ROLES.failing);
        say(`host ${DEMO_ROLES.failing} failed (simulator fault): its pair will fence it and fail over to the shadow`);
        say(`  pairs failing over or unprotected: ${ui("PairPhase = 'failing-over' OR PairPhase = 'unprotected'")}`);
      },
    },
    { afterSeconds: 110, run: () => fireOffPeakSwap(moves) },
    { afterSeconds: 180, run: () => startRollingUpgrade(moves, 3, watches) },
  ];
  await playScenario({
    client,
    pairIds: topology.primaries.map((p) => p.hostId),
    steps: resumed ? [] : steps,
    watches,
    ...(resumed
      ? {}
      : {
          surge: { pairId: DEMO_ROLES.surge, metrics: metricsStoreFor(loaded), provider, minutes: 'simulated' },
        }),
    say,
    signal,
  });
}
