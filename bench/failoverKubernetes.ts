/**
 * bench:failover --provider kubernetes — node failure → out-of-service fence → pods Running on the shadow node, on
 * a Kubernetes test bed of this run's own (real apiserver, scheduler and controller-manager; kwok plays the nodes),
 * beside what Kubernetes does by itself on the same bed with Understudy switched off. Not a test.
 *
 * Understudy: `--failures` pairs, each a primary node with a Deployment and a StatefulSet and a standby shadow node
 * in another region, `--batch` at a time with the product's default policy; their primaries' heartbeats stop one
 * after another (`--stagger-ms` apart). Per failure:
 *   - first missed check: a watcher's batched health check was first answered unhealthy (the controller-manager had
 *     marked the node NotReady, one grace period after its last heartbeat), as the simulator's benchmark counts it;
 *   - detected, fenced, shadow active, workloads restored: from the pair's and the failover child's histories;
 *   - pods Running on the shadow: a poller saw both pods Running and Ready there.
 * Baseline: the same number of primary nodes, each with a Deployment and a StatefulSet and an idle, schedulable
 * spare node in its zone serving the same workloads, all failed at once with nothing else acting. Kubernetes taints an
 * unreachable node, evicts its pods after their 300 s default toleration, and never replaces a StatefulSet's pod on
 * a node that may still run it; each workload's time until its pod runs on the spare is measured up to
 * `--baseline-minutes`, and those that never get there are counted.
 *
 * Usage: npm run bench:failover -- --provider kubernetes [--json] [--failures 20] [--batch 10] [--stagger-ms 1500]
 *        [--baseline-minutes 8]
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { LoadedConfig } from '../src/config/load.js';
import { createForecaster } from '../src/forecast/forecaster.js';
import { ARTIFACTS_DIR } from '../src/forecast/trainer.js';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { BedControl, bedClient, kwokNodeFactory, statusPatchSizer } from '../src/provider/kubernetes/bed.js';
import { WORKLOAD_LABEL } from '../src/provider/kubernetes/names.js';
import { KubernetesFleetProvider } from '../src/provider/kubernetes/provider.js';
import type { Capacity } from '../src/provider/types.js';
import { allWatcherWorkflowIds } from '../src/shared/healthWatch.js';
import { allObserverWorkflowIds } from '../src/shared/observation.js';
import { pairWorkflowId, stateQuery, type HostRef, type PairState } from '../src/shared/pair.js';
import { stackPaths } from '../src/stack/index.js';
import { kubernetesBedReset, kubernetesBedUp, kubernetesBinDir } from '../src/stack/kubernetesBed.js';
import { createWorker, installRuntime } from '../src/worker.js';
import type { hostPairWorkflow } from '../workflows/hostPair.js';
import { WORKFLOW_TASK_TIMEOUT } from '../workflows/profiles.js';
import { activityTimelines, createBenchDatabase, eventMs, inBatches, spread, writeWorkflowBundle } from './harness.js';

export interface KubernetesFailoverOptions {
  json: boolean;
  failures: number;
  batch: number;
  staggerMs: number;
  baselineMinutes: number;
}

const HOST_SIZE: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
const WORKLOAD_SIZE: Capacity = { cpuCores: 4, memoryGiB: 2, storageIops: 2_000, networkMbps: 1_000 };
/** The bench's own bed: its folder and ports apart from a user's bed and the tests'. */
const BENCH_BED_PORTS = {
  apiServer: 16643,
  etcdClient: 12579,
  etcdPeer: 12580,
  etcdMetrics: 12581,
  controllerManager: 20457,
  scheduler: 20459,
};
const NODE_MONITOR_GRACE_SECONDS = 20;
const SETTLE_TIMEOUT_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Failure {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  workloadIds: string[];
  injectedAt?: number;
  firstMissAt?: number;
  podsRunningAt?: number;
}

export async function runKubernetesFailover(loaded: LoadedConfig, options: KubernetesFailoverOptions): Promise<void> {
  const log = (message: string) => {
    if (!options.json) console.log(message);
  };
  const { config } = loaded;
  const stateDir = stackPaths(config).stateDir;
  const bedOptions = {
    dir: join(stateDir, 'kubernetes-bench'),
    binDir: kubernetesBinDir(stateDir),
    ports: BENCH_BED_PORTS,
    nodeMonitorGracePeriodSeconds: NODE_MONITOR_GRACE_SECONDS,
  };
  const tag = randomUUID().slice(0, 6);
  // The in-process worker logs to a file, so that --json prints only the figures.
  const workerLog = join(stateDir, 'logs', `bench-failover-k8s-${tag}.log`);
  installRuntime('WARN', workerLog);
  log(`worker log: ${workerLog}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    await kubernetesBedReset(bedOptions);
    const bed = await kubernetesBedUp(bedOptions);
    cleanups.unshift(() => bed.down());
    const client8s = bedClient(bed.kubeconfig);
    const namespace = 'understudy-bench';
    const control = new BedControl(client8s, namespace);
    await control.ensureNamespace();
    const provider = new KubernetesFleetProvider({
      kubeconfig: bed.kubeconfig,
      namespace,
      sizer: statusPatchSizer(client8s),
      nodeFactory: kwokNodeFactory(client8s),
    });
    // The watchers' own health answers, recorded as the simulator records them: a failure's first missed check is
    // the first time a watcher was told its primary is unhealthy.
    const firstUnhealthyAnswer = new Map<string, number>();
    const recording = Object.create(provider) as KubernetesFleetProvider;
    recording.healthCheckMany = async (hostIds) => {
      const reports = await provider.healthCheckMany(hostIds);
      const at = Date.now();
      for (const r of reports.reports)
        if (!r.healthy && !firstUnhealthyAnswer.has(r.hostId)) firstUnhealthyAnswer.set(r.hostId, at);
      return reports;
    };
    const database = await createBenchDatabase(config.influx.url, 'bench_failover_k8s');
    cleanups.unshift(() => database.drop());
    const connection = await Connection.connect({ address: config.temporal.address });
    cleanups.unshift(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    cleanups.unshift(() => nativeConnection.close());
    const taskQueue = `bench-failover-k8s-${tag}`;
    const bundlePath = await writeWorkflowBundle(config, `failover-k8s-${tag}`);
    const forecaster = await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0 });
    cleanups.unshift(() => forecaster.close());
    const worker = await createWorker({
      loaded,
      connection: nativeConnection,
      taskQueue,
      workflowBundle: { codePath: bundlePath },
      dependencies: {
        provider: recording,
        metrics: new InfluxV1MetricsStore({ url: config.influx.url, database: database.name }),
        forecaster,
        temporal: client,
      },
    });
    const running = worker.run();
    cleanups.unshift(async () => {
      worker.shutdown();
      await running;
    });
    const pairIds: string[] = [];
    cleanups.unshift(() =>
      inBatches(
        [...pairIds.map(pairWorkflowId), ...allWatcherWorkflowIds(taskQueue), ...allObserverWorkflowIds(taskQueue)],
        8,
        (id) =>
          client.workflow
            .getHandle(id)
            .terminate('benchmark finished')
            .catch(() => undefined),
      ),
    );
    const cordon = (name: string, unschedulable: boolean) =>
      client8s.core.patchNode(
        { name, body: { spec: { unschedulable } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const act = async (start: Promise<{ id: string }>) =>
      provider.waitForOperation((await start) as never, { timeoutMs: 120_000, pollIntervalMs: 50 });

    // ---- Understudy: pairs that fail over ------------------------------------------------------------------------
    log(`bench:failover (kubernetes): building ${options.failures} pairs on the bed (task queue ${taskQueue})`);
    const failures: Failure[] = [];
    await inBatches(
      Array.from({ length: options.failures }, (_, i) => i),
      4,
      async (i) => {
        const pairId = `fo-${tag}-${i}`;
        const primary: HostRef = { hostId: `${pairId}-p`, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
        const shadow: HostRef = { hostId: `${pairId}-s`, region: 'eu-west', zone: 'eu-west-b', capacity: HOST_SIZE };
        await act(provider.provisionHost({ ...primary, role: 'primary', pairId, idempotencyKey: `${pairId}:p` }));
        await act(
          provider.provisionHost({
            ...shadow,
            role: 'shadow',
            pairId,
            allocationFraction: config.policy.shadowFraction,
            idempotencyKey: `${pairId}:s`,
          }),
        );
        await act(
          provider.startReplication({
            sourceHostId: primary.hostId,
            targetHostId: shadow.hostId,
            idempotencyKey: `${pairId}:repl`,
          }),
        );
        const workloadIds = [`${pairId}-deploy`, `${pairId}-sts`];
        await control.createWorkload({ id: workloadIds[0]!, pairId, requirements: WORKLOAD_SIZE });
        await control.createWorkload({ id: workloadIds[1]!, pairId, requirements: WORKLOAD_SIZE, kind: 'StatefulSet' });
        failures[i] = { pairId, primary, shadow, workloadIds };
      },
    );
    await waitFor(
      async () => (await provider.describeFleet()).workloads.filter((w) => w.hostId.endsWith('-p')).length,
      (n) => n === options.failures * 2,
      'every workload running on its primary node',
    );

    const policy = config.policy;
    const states = new Map<string, PairState>();
    for (let first = 0; first < failures.length; first += options.batch) {
      const batch = failures.slice(first, first + options.batch);
      pairIds.push(...batch.map((f) => f.pairId));
      for (const f of batch) {
        await client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
          taskQueue,
          workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
          workflowId: pairWorkflowId(f.pairId),
          args: [{ pairId: f.pairId, primary: f.primary, shadow: f.shadow, policy }],
        });
      }
      const query = () =>
        Promise.all(
          batch.map((f) =>
            client.workflow
              .getHandle(pairWorkflowId(f.pairId))
              .query(stateQuery)
              .catch(() => undefined),
          ),
        );
      await waitFor(
        query,
        (s) => s.every((p) => p?.health.watch !== undefined),
        'the batch enrolled with its watchers',
      );
      log(
        `pairs ${first + 1}-${first + batch.length} watched; stopping one primary's heartbeats every ${options.staggerMs} ms`,
      );
      // The pods, every 250 ms: when both run on the shadow.
      let polling = true;
      const podPoller = (async () => {
        while (polling) {
          const pending = batch.filter((f) => f.injectedAt !== undefined && f.podsRunningAt === undefined);
          if (pending.length > 0) {
            const pods = await client8s.core.listNamespacedPod({ namespace });
            const at = Date.now();
            for (const f of pending) {
              const running = pods.items.filter(
                (p) =>
                  p.spec?.nodeName === f.shadow.hostId &&
                  !p.metadata?.deletionTimestamp &&
                  p.status?.phase === 'Running' &&
                  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
              );
              if (running.length === f.workloadIds.length) f.podsRunningAt = at;
            }
          }
          await sleep(250);
        }
      })();
      for (const f of batch) {
        f.injectedAt = Date.now();
        await control.failNode(f.primary.hostId);
        await sleep(options.staggerMs);
      }
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const s = await query();
        if (
          s.every((p) => p?.counters.failovers === 1 && p.phase === 'unprotected') &&
          batch.every((f) => f.podsRunningAt)
        )
          break;
        await sleep(1_000);
      }
      polling = false;
      await podPoller;
      for (const f of batch) f.firstMissAt = firstUnhealthyAnswer.get(f.primary.hostId);
      (await query()).forEach((s, i) => s && states.set(batch[i]!.pairId, s));
    }

    // ---- read the timings from the histories -----------------------------------------------------------------------
    const seconds = (ms: number) => ms / 1000;
    const fromMiss = {
      detected: [] as number[],
      fenced: [] as number[],
      shadowActive: [] as number[],
      restored: [] as number[],
      podsRunning: [] as number[],
    };
    const fromInjection = { firstMiss: [] as number[], shadowActive: [] as number[], podsRunning: [] as number[] };
    const unfinished: string[] = [];
    for (const f of failures) {
      const state = states.get(f.pairId);
      const childId = state?.lastAction?.kind === 'failover' ? state.lastAction.workflowId : undefined;
      if (
        !state ||
        state.counters.failovers !== 1 ||
        !childId ||
        f.firstMissAt === undefined ||
        f.podsRunningAt === undefined
      ) {
        unfinished.push(
          `${f.pairId}: phase ${state?.phase}, first miss ${f.firstMissAt}, pods running ${f.podsRunningAt}`,
        );
        continue;
      }
      const [pairHistory, childHistory] = await Promise.all([
        client.workflow.getHandle(pairWorkflowId(f.pairId)).fetchHistory(),
        client.workflow.getHandle(childId).fetchHistory(),
      ]);
      const detected = (pairHistory.events ?? []).find(
        (e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === childId,
      );
      const childEvents = childHistory.events ?? [];
      const timelines = activityTimelines(childEvents);
      const fenced = timelines.find((a) => a.activityType === 'fenceHost')?.completedAt;
      const activated = timelines.find((a) => a.activityType === 'activateShadow')?.completedAt;
      const completed = childEvents.find((e) => e.workflowExecutionCompletedEventAttributes);
      if (!detected || fenced === undefined || activated === undefined || !completed) {
        unfinished.push(`${f.pairId}: its histories lack the failover start, the fence, the activation or completion`);
        continue;
      }
      fromMiss.detected.push(seconds(eventMs(detected) - f.firstMissAt));
      fromMiss.fenced.push(seconds(fenced - f.firstMissAt));
      fromMiss.shadowActive.push(seconds(activated - f.firstMissAt));
      fromMiss.restored.push(seconds(eventMs(completed) - f.firstMissAt));
      fromMiss.podsRunning.push(seconds(f.podsRunningAt - f.firstMissAt));
      fromInjection.firstMiss.push(seconds(f.firstMissAt - f.injectedAt!));
      fromInjection.shadowActive.push(seconds(activated - f.injectedAt!));
      fromInjection.podsRunning.push(seconds(f.podsRunningAt - f.injectedAt!));
    }
    const report = await provider.invariants();
    const splitBrainPairs = report.violations.filter(
      (v) => v.kind === 'two-unfenced-primaries' && pairIds.includes(v.pairId),
    ).length;
    await inBatches(pairIds.map(pairWorkflowId), 8, (id) =>
      client.workflow
        .getHandle(id)
        .terminate('failed over; baseline next')
        .catch(() => undefined),
    );

    // ---- baseline: the same failures with nothing but Kubernetes acting ---------------------------------------------
    log(
      `baseline: ${options.failures} primary nodes with a schedulable spare each, all failed at once, Understudy off`,
    );
    const baseline: {
      workloadId: string;
      kind: string;
      primary: string;
      spare: string;
      injectedAt?: number;
      runningAt?: number;
    }[] = [];
    await inBatches(
      Array.from({ length: options.failures }, (_, i) => i),
      4,
      async (i) => {
        const group = `base-${tag}-${i}`;
        const primary = `${group}-p`;
        const spare = `${group}-spare`;
        // A zone of the pair's own, so one failed node leaves it half healthy: the controller-manager slows or stops
        // evictions in a zone that is mostly down (--unhealthy-zone-threshold), which is a zone outage, not this.
        const zone = `us-east-${group}`;
        await act(
          provider.provisionHost({
            hostId: primary,
            region: 'us-east',
            zone,
            capacity: HOST_SIZE,
            role: 'primary',
            pairId: group,
            idempotencyKey: `${group}:p`,
          }),
        );
        // A spare serving the same workloads, full size and schedulable (a primary by role, so no standby taint),
        // cordoned until the workloads run on the primary.
        await act(
          provider.provisionHost({
            hostId: spare,
            region: 'us-east',
            zone,
            capacity: HOST_SIZE,
            role: 'primary',
            pairId: group,
            idempotencyKey: `${group}:spare`,
          }),
        );
        await cordon(spare, true);
        for (const kind of ['Deployment', 'StatefulSet'] as const) {
          const workloadId = `${group}-${kind === 'Deployment' ? 'deploy' : 'sts'}`;
          await control.createWorkload({ id: workloadId, pairId: group, requirements: WORKLOAD_SIZE, kind });
          baseline.push({ workloadId, kind, primary, spare });
        }
      },
    );
    await waitFor(
      async () =>
        (await provider.describeFleet()).workloads.filter(
          (w) => w.id.startsWith(`base-${tag}`) && w.hostId.endsWith('-p'),
        ).length,
      (n) => n === baseline.length,
      'every baseline workload running on its primary node',
    );
    for (const { spare } of baseline) await cordon(spare, false);
    log(`baseline: stopping every primary node's heartbeats; watching for up to ${options.baselineMinutes} min`);
    const baselineStart = Date.now();
    await inBatches([...new Set(baseline.map((b) => b.primary))], 8, (node) => control.failNode(node));
    for (const b of baseline) b.injectedAt = baselineStart;
    const baselineDeadline = baselineStart + options.baselineMinutes * 60_000;
    while (Date.now() < baselineDeadline && baseline.some((b) => b.runningAt === undefined)) {
      const pods = await client8s.core.listNamespacedPod({ namespace });
      const at = Date.now();
      for (const b of baseline.filter((x) => x.runningAt === undefined)) {
        const moved = pods.items.some(
          (p) =>
            p.metadata?.labels?.[WORKLOAD_LABEL] === b.workloadId &&
            p.spec?.nodeName === b.spare &&
            !p.metadata.deletionTimestamp &&
            p.status?.phase === 'Running',
        );
        if (moved) b.runningAt = at;
      }
      await sleep(1_000);
    }
    const recovered = baseline.filter((b) => b.runningAt !== undefined);
    const neverRecovered = baseline.filter((b) => b.runningAt === undefined);

    const shadowActiveP99 = spread(fromMiss.shadowActive).p99;
    const result = {
      provider: { kind: 'kubernetes', nodeMonitorGracePeriodSeconds: NODE_MONITOR_GRACE_SECONDS, workloadsPerPair: 2 },
      failures: options.failures,
      staggerMs: options.staggerMs,
      pairsRunningAtOnce: options.batch,
      pairsRunning: options.batch,
      policy: {
        healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds,
        failuresBeforeFailover: policy.failuresBeforeFailover,
      },
      completed: fromMiss.shadowActive.length,
      unfinished,
      shadowActiveSeconds: spread(fromMiss.shadowActive),
      secondsFromFirstMissedCheck: {
        detected: spread(fromMiss.detected),
        fenced: spread(fromMiss.fenced),
        shadowActive: spread(fromMiss.shadowActive),
        workloadsRestored: spread(fromMiss.restored),
        podsRunningOnShadow: spread(fromMiss.podsRunning),
      },
      secondsFromInjection: {
        firstMissedCheck: spread(fromInjection.firstMiss),
        shadowActive: spread(fromInjection.shadowActive),
        podsRunningOnShadow: spread(fromInjection.podsRunning),
      },
      splitBrainPairs,
      baseline: {
        workloads: baseline.length,
        podsRunningElsewhereSeconds: spread(recovered.map((b) => seconds(b.runningAt! - b.injectedAt!))),
        neverRecovered: neverRecovered.length,
        neverRecoveredByKind: {
          Deployment: neverRecovered.filter((b) => b.kind === 'Deployment').length,
          StatefulSet: neverRecovered.filter((b) => b.kind === 'StatefulSet').length,
        },
        observedMinutes: options.baselineMinutes,
      },
      goal: { shadowActiveWithinSecondsP99: 5, p99: shadowActiveP99, met: shadowActiveP99 <= 5 },
    };
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else {
      const row = (name: string, x: ReturnType<typeof spread>) =>
        `  ${name.padEnd(44)} p50 ${String(x.p50).padStart(6)} s   p99 ${String(x.p99).padStart(6)} s   max ${String(x.max).padStart(6)} s   (n ${x.n})`;
      log(`${result.completed}/${options.failures} failovers completed`);
      log('Understudy, from the first missed health check (the node already NotReady):');
      log(row('detected (failover started)', result.secondsFromFirstMissedCheck.detected));
      log(row('fenced (out-of-service taint)', result.secondsFromFirstMissedCheck.fenced));
      log(row('shadow active', result.secondsFromFirstMissedCheck.shadowActive));
      log(row('failover complete', result.secondsFromFirstMissedCheck.workloadsRestored));
      log(row('both pods Running on the shadow', result.secondsFromFirstMissedCheck.podsRunningOnShadow));
      log('Understudy, from the heartbeats stopping:');
      log(row('first missed health check', result.secondsFromInjection.firstMissedCheck));
      log(row('both pods Running on the shadow', result.secondsFromInjection.podsRunningOnShadow));
      log(
        `Kubernetes alone, from the heartbeats stopping (${baseline.length} workloads, ${options.baselineMinutes} min watched):`,
      );
      log(row('pod Running on the spare', result.baseline.podsRunningElsewhereSeconds));
      log(
        `  never recovered: ${neverRecovered.length} (Deployments ${result.baseline.neverRecoveredByKind.Deployment}, ` +
          `StatefulSets ${result.baseline.neverRecoveredByKind.StatefulSet})`,
      );
      log(`split brain: ${splitBrainPairs} pairs`);
      log(
        `goal: shadow active within 5 s of the first missed check at p99: ${shadowActiveP99} s — ${result.goal.met ? 'met' : 'NOT met'}`,
      );
      for (const u of unfinished) log(`unfinished: ${u}`);
    }
    if (unfinished.length > 0) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups)
      await cleanup().catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
  }
}

async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 180_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`never reached: ${what}`);
    await sleep(500);
  }
}
