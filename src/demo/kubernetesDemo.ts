/**
 * The demo on the embedded Kubernetes bed (`understudy up --demo --provider kubernetes`): six primary nodes in three
 * regions, each running three one-replica workloads, a fleet that gives each node a tainted shadow node in another
 * region, and the scenario of the simulator's demo on the wall clock — a paused pair, a demand surge the forecast
 * sees coming, a node that dies with StatefulSets on it (fenced with the out-of-service taint, its pods moved), an
 * off-peak swap, and a rolling upgrade through swaps under PodDisruptionBudgets.
 *
 * kwok plays the nodes and runs no containers, so the demo runs the bed's metrics agent beside the worker: it writes
 * each node's utilisation in Telegraf's schema from its workloads' demand models, history included.
 */
import type { Client } from '@temporalio/client';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import { configSchema, type PolicyConfig } from '../config/schema.js';
import type { Topology } from '../policy/types.js';
import { kubeconfigPath, providerFromConfig } from '../provider/fromConfig.js';
import type { DemandProfile, FleetProvider } from '../provider/types.js';
import { metricsStoreFor } from '../metrics/store.js';
import { influxV1Target } from '../metrics/influxV1Store.js';
import { TelegrafWriter } from '../simulator/telegraf.js';
import { kubernetesBinDir } from '../stack/kubernetesBed.js';
import { stackPaths } from '../stack/paths.js';
import type { BedControl } from '../provider/kubernetes/bed.js';
import type { BedMetricsAgent } from '../provider/kubernetes/bedMetrics.js';
import { THREE_REGIONS, threeRegionTopology } from './topology.js';
import {
  DEMO_HOST,
  DEMO_ROLES,
  DEMO_WORKLOAD,
  HISTORY_HOURS,
  SURGE_DEMAND,
  backgroundDemand,
  surgeDemand,
  pairState,
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

const WORKLOADS_PER_NODE = 3;
/** Between two samples of a node, as the simulator's demo writes them. */
const SAMPLE_INTERVAL_MS = 60_000;
/** Minutes from the end of the history to the surge pair's crossing of 80% CPU: inside the pair's 1-hour horizon. */
const SURGE_CROSSING_MINUTES = 30;

/** Real-time loops: health every 2 s as on the simulator, forecasts every 15 s (samples come a minute apart). */
export const KUBERNETES_DEMO_POLICY: PolicyConfig = configSchema.parse({
  policy: {
    tickSeconds: 15,
    healthCheckIntervalSeconds: 2,
    failuresBeforeFailover: 3,
    cooldownMinutes: 15,
    scaleBackAfterMinutes: 30,
  },
}).policy;

export function kubernetesDemoTopology(): Topology {
  return threeRegionTopology({
    perRegion: 2,
    hostCapacity: DEMO_HOST,
    shadowHostsPerRegion: 4,
    hostId: (region, n) => `${region}-${n}`,
  });
}

/**
 * The UTC hour (fractional) of the daily peak of a cosine demand `base + amplitude × cos(…)` whose rise crosses
 * `demandAtCrossing` at `crossingAt`. Pure.
 */
export function peakHourForCrossing(
  profile: { base: number; amplitude: number },
  demandAtCrossing: number,
  crossingAt: Date,
): number {
  const hoursBeforePeak = (Math.acos((demandAtCrossing - profile.base) / profile.amplitude) * 24) / (2 * Math.PI);
  const hour = crossingAt.getUTCHours() + crossingAt.getUTCMinutes() / 60 + hoursBeforePeak;
  return hour % 24;
}

/** Demand as a multiple of each workload's reservation; the surge node's rise crosses 80% CPU at `surgeCrossingAt`. */
function demandFor(hostId: string, index: number, surgeCrossingAt: Date): DemandProfile {
  if (hostId === DEMO_ROLES.surge) {
    // A node's CPU is 2% idle plus 100 × reserved cores × demand / its cores.
    const demandAtCrossing = (80 - 2) / ((100 * WORKLOADS_PER_NODE * DEMO_WORKLOAD.cpuCores) / DEMO_HOST.cpuCores);
    return surgeDemand(peakHourForCrossing(SURGE_DEMAND, demandAtCrossing, surgeCrossingAt), index);
  }
  return backgroundDemand(index);
}

const workloadIds = (hostId: string): string[] =>
  Array.from({ length: WORKLOADS_PER_NODE }, (_, i) => `${hostId}-w${i + 1}`);

/** An object a run stopped half-way had already created is kept. */
async function ignoreExisting(creation: Promise<unknown>): Promise<void> {
  await creation.catch((error: { code?: number }) => {
    if (error.code !== 409) throw error;
  });
}

/** Creates the primary nodes and their workloads; false when an earlier run had (a second run finds them). */
async function seedCluster(
  provider: FleetProvider,
  control: BedControl,
  surgeCrossingAt: Date,
  say: Say,
): Promise<boolean> {
  const topology = kubernetesDemoTopology();
  const fleet = await provider.describeFleet();
  if (topology.primaries.every((p) => fleet.hosts.some((h) => h.id === p.hostId))) return false;
  say(
    `creating ${topology.primaries.length} primary nodes in ${THREE_REGIONS.join(', ')} on the Kubernetes bed, ` +
      `each with ${WORKLOADS_PER_NODE} workloads in namespace ${control.namespace}`,
  );
  await control.ensureNamespace();
  for (const [i, p] of topology.primaries.entries()) {
    const op = await provider.provisionHost({
      hostId: p.hostId,
      region: p.region,
      zone: p.zone,
      capacity: p.capacity,
      role: 'primary',
      idempotencyKey: `demo:create:${p.hostId}`,
    });
    await provider.waitForOperation(op, { timeoutMs: 120_000 });
    await provider.waitForOperation(
      await provider.syncConfiguration({
        hostId: p.hostId,
        desired: { image: 'shop:4.2', workers: 16 },
        idempotencyKey: `demo:cfg:${p.hostId}`,
      }),
    );
    for (const [w, id] of workloadIds(p.hostId).entries()) {
      await ignoreExisting(
        control.createWorkload({
          id,
          pairId: p.hostId,
          requirements: DEMO_WORKLOAD,
          demand: demandFor(p.hostId, i * WORKLOADS_PER_NODE + w + 1, surgeCrossingAt),
          // Kubernetes alone never moves a StatefulSet's pod off a dead node: the failing node runs those.
          kind: p.hostId === DEMO_ROLES.failing ? 'StatefulSet' : 'Deployment',
        }),
      );
    }
  }
  return true;
}

/** Waits until every primary node reports its workloads' pods running on it. */
async function waitForPods(provider: FleetProvider, topology: Topology, signal: AbortSignal): Promise<void> {
  const ids = topology.primaries.map((p) => p.hostId);
  while (!signal.aborted) {
    const fleet = await provider.describeFleet({ hostIds: ids });
    if (ids.every((id) => fleet.hosts.find((h) => h.id === id)?.workloadIds.length === WORKLOADS_PER_NODE)) return;
    await sleep(1_000);
  }
}

/** Starts the metrics agent on the bed's InfluxDB database, after writing the history the forecasters learn from. */
async function startMetricsAgent(
  loaded: LoadedConfig,
  provider: FleetProvider,
  writeHistory: boolean,
  say: Say,
): Promise<BedMetricsAgent> {
  const { BedMetricsAgent } = await import('../provider/kubernetes/bedMetrics.js');
  const agent = new BedMetricsAgent({
    provider,
    writer: new TelegrafWriter(influxV1Target(loaded)),
    intervalMs: SAMPLE_INTERVAL_MS,
  });
  if (writeHistory) {
    say(
      `writing ${HISTORY_HOURS} hours of the nodes' utilisation history to InfluxDB (the forecasters learn from it)…`,
    );
    await agent.backfill(Date.now() - HISTORY_HOURS * 3_600_000, Date.now());
  }
  agent.start();
  return agent;
}

/** The StatefulSet pods of the failed node's pair, once they all run elsewhere: reported with the time they took. */
function watchPodsMoved(control: BedControl, failedAt: number, say: Say): Watch {
  const pairId = DEMO_ROLES.failing;
  return async () => {
    const pods = await control.readyPods(pairId);
    if (pods.length < WORKLOADS_PER_NODE || pods.some((pod) => pod.nodeName === pairId)) return false;
    const nodes = [...new Set(pods.map((pod) => pod.nodeName))].join(', ');
    say(
      `pair ${pairId}: its ${pods.length} StatefulSet pods run on ${nodes}, ${Math.round((Date.now() - failedAt) / 1000)} s ` +
        'after the node stopped (Kubernetes alone would leave them on the dead node until someone taints it)',
    );
    return true;
  };
}

/** `retrainScheduleId`: the retrain schedule `understudy up` created, absent when retraining could not start. */
export async function runKubernetesDemo(
  loaded: LoadedConfig,
  client: Client,
  webUi: string,
  say: Say,
  signal: AbortSignal,
  retrainScheduleId?: string,
): Promise<void> {
  // Checked before any node is made: the metrics agent writes Telegraf's InfluxDB 1.x lines.
  if (loaded.config.influx.version !== 1) {
    throw new Error(
      "the Kubernetes demo writes its nodes' metrics to InfluxDB 1.x (the embedded default); set influx.version: 1",
    );
  }
  const { BedControl, bedClient } = await import('../provider/kubernetes/bed.js');
  const provider = await providerFromConfig(loaded);
  const control = new BedControl(bedClient(kubeconfigPath(loaded.config)), loaded.config.provider.namespace);
  const topology = kubernetesDemoTopology();
  const surgeCrossingAt = new Date(Date.now() + SURGE_CROSSING_MINUTES * 60_000);
  const seededNow = await seedCluster(provider, control, surgeCrossingAt, say);
  await waitForPods(provider, topology, signal);
  const agent = await startMetricsAgent(loaded, provider, seededNow, say);
  try {
    if (seededNow) {
      if (retrainScheduleId)
        await retrainOnHistory(client, retrainScheduleId, say).catch((error: Error) =>
          say(`retraining failed, the pairs forecast with the shipped models and the baselines: ${error.message}`),
        );
      else say('no retraining (see above): the pairs forecast with the shipped models and the baselines');
    }
    const namespace = loaded.config.temporal.namespace;
    const ui = webUiQuery(webUi, namespace);
    const resumed = await startFleet(client, { topology, policy: KUBERNETES_DEMO_POLICY, seededNow, say });
    // Setup builds kubectl beside the bed.
    const kubectl = join(kubernetesBinDir(stackPaths(loaded.config).stateDir), 'kubectl');
    say(`  every pair in the Web UI: ${ui("WorkflowType = 'hostPairWorkflow'")}`);
    say(
      `  the nodes: ${kubectl} --kubeconfig ${kubeconfigPath(loaded.config)} get nodes -L understudy.io/role,topology.kubernetes.io/region`,
    );

    const pairIds = topology.primaries.map((p) => p.hostId);
    const watches = new Set<Watch>();
    const moves = { client, webUi, namespace, say };
    const steps: ScenarioStep[] = [
      {
        afterSeconds: 0,
        run: () => {
          say(
            `pair ${DEMO_ROLES.surge}'s demand crosses 80% CPU at about ${surgeCrossingAt.toISOString().slice(11, 16)} UTC; ` +
              'watch it scale out onto its shadow node before then',
          );
          say(`  ${ui(`PairId = '${DEMO_ROLES.surge}'`)}`);
          return Promise.resolve();
        },
      },
      { afterSeconds: 10, run: () => pauseForChangeFreeze(moves) },
      {
        afterSeconds: 30,
        run: async () => {
          await control.failNode(DEMO_ROLES.failing);
          say(
            `node ${DEMO_ROLES.failing} stopped (its kubelet's heartbeats end): once it is NotReady its pair fences it ` +
              'with the out-of-service taint and moves its StatefulSet pods to the shadow node',
          );
          say(`  pairs failing over or unprotected: ${ui("PairPhase = 'failing-over' OR PairPhase = 'unprotected'")}`);
          watches.add(watchPodsMoved(control, Date.now(), say));
        },
      },
      { afterSeconds: 90, run: () => fireOffPeakSwap(moves) },
      {
        afterSeconds: 150,
        run: async () => {
          // Each pair's pods move one at a time: the budget lets one of its three be away.
          for (const pairId of pairIds) {
            await ignoreExisting(
              control.createDisruptionBudget(`${pairId}-budget`, workloadIds(pairId), WORKLOADS_PER_NODE - 1),
            );
          }
          say(`created a PodDisruptionBudget per pair: at least ${WORKLOADS_PER_NODE - 1} of its 3 pods available`);
          await startRollingUpgrade(moves, 2, watches, ', evictions under the budgets');
        },
      },
    ];
    let announced = false;
    await playScenario({
      client,
      pairIds,
      steps: resumed ? [] : steps,
      watches,
      // The scenario starts once every pair has its shadow node: placing them takes a minute or two here.
      startsWhen: async () => {
        const states = await Promise.all(pairIds.map((id) => pairState(client, id)));
        const ready = states.every((s) => s !== undefined && s.shadow !== undefined && s.phase !== 'unprotected');
        if (ready && !announced) {
          announced = true;
          say(`every pair has its shadow node in another region; the scenario starts`);
        }
        return ready;
      },
      ...(resumed
        ? {}
        : { surge: { pairId: DEMO_ROLES.surge, metrics: metricsStoreFor(loaded), provider, minutes: '' } }),
      say,
      signal,
    });
  } finally {
    await agent.stop();
  }
}
