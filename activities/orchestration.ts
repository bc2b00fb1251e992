/**
 * Orchestration activities: every call the host-pair, fleet and action workflows make to the provider, the metrics
 * store and the forecaster. Each provider action carries the idempotency key the workflow derived from its own id,
 * so a retried activity finds the operation it started instead of acting twice; long ones heartbeat the operation
 * id and, when retried, resume waiting on it.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { FORECAST_RESOURCE, type Forecaster } from '../src/forecast/types.js';
import type { AnomalyEvent, MetricsStore, PairDemandPoint, UtilisationWindow } from '../src/metrics/types.js';
import { batchPairDemandReads, batchUtilisationReads } from '../src/metrics/batchedReads.js';
import { incrementalPairDemandReads, incrementalUtilisationReads } from '../src/metrics/windowCache.js';
import { followPairDemand } from '../src/metrics/pairDemand.js';
import { pairDemandWindow, windowHistory } from '../src/metrics/utilisation.js';
import { anomalyEvents } from '../src/shared/anomaly.js';
import { pairForecastRequests, summarisePairForecast, type ResourceForecast } from '../src/forecast/pairForecast.js';
import type {
  FleetProvider,
  FleetSnapshot,
  Host,
  HostRole,
  InvariantReport,
  MigrationResult,
  Operation,
  OperationKind,
  ProviderErrorCode,
  ReplicationStatus,
} from '../src/provider/types.js';
import { PROVIDER_ERROR_STATUS, RESOURCES, describeHealth, isRetryableProviderError } from '../src/provider/types.js';
import { offPeakToScheduleSpec } from '../src/policy/offPeak.js';
import type { ForecastSummary, HostData, OffPeakSpec, Utilisation, WorkloadData } from '../src/policy/types.js';
import { CAPACITY_KEY } from '../src/policy/capacity.js';
import { FailureType } from '../src/shared/failures.js';
import type { HostRef } from '../src/shared/pair.js';

export interface OrchestrationDependencies {
  provider: FleetProvider;
  metrics: MetricsStore;
  forecaster: Forecaster;
  /** For Temporal Schedules (off-peak swaps); absent where no schedule is managed. */
  temporal?: Client;
}

/** How often a fleet read tells Temporal its worker is alive (FLEET_READ's heartbeat timeout is 3 s). */
const FLEET_READ_HEARTBEAT_MS = 1_000;
/**
 * How often a running provider operation is polled where the provider cannot hold a read until it ends (Kubernetes;
 * the simulator's API can). The client's default is 250 ms.
 */
const OPERATION_POLL_INTERVAL_MS = 100;
/** Days of the primary's history the quietest-window search averages over. */
const QUIET_WINDOW_HISTORY_DAYS = 7;

function isProviderError(error: unknown): error is Error & { code: ProviderErrorCode } {
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof Error && typeof code === 'string' && code in PROVIDER_ERROR_STATUS;
}

/**
 * Turns a provider error into what Temporal should do with it: the caller's fault fails the activity for good
 * (a typed, non-retryable failure), the provider's fault is retried by the activity's retry policy.
 */
function asActivityFailure(error: unknown, what: string): unknown {
  if (!isProviderError(error)) return error;
  if (error.code === 'operation_failed') {
    return ApplicationFailure.retryable(`${what}: ${error.message}`, FailureType.ProviderOperationFailed);
  }
  if (!isRetryableProviderError(error.code)) {
    return ApplicationFailure.create({
      message: `${what}: ${error.message}`,
      type: FailureType.ProviderRejected,
      nonRetryable: true,
      details: [{ code: error.code }],
    });
  }
  return error;
}

export interface ObservePairInput {
  pairId: string;
  primary: HostRef;
  shadowHostId?: string;
  horizonsMinutes: number[];
  /** How much history the forecaster gets, in minutes of data time. */
  historyMinutes: number;
  stepSeconds: number;
  /** Data time the current primary took its role by a failover or swap (PairState.rolesSince). */
  rolesSince?: number;
}

export interface PairObservation {
  /** The provider's clock (data time), epoch ms. */
  now: number;
  primary: HostData;
  shadow?: HostData;
  workloads: WorkloadData[];
  /** Absent when the metrics were missing: the pair must not act on missing data. */
  forecast?: ForecastSummary;
  mirror: { lastSampleAt?: number; lagSeconds?: number };
  /** Data problems (gaps, resets, no data) and forecaster warnings, for the state query. */
  issues: string[];
}

function toHostData(host: Host, utilisation?: Utilisation): HostData {
  return {
    hostId: host.id,
    region: host.region,
    zone: host.zone,
    role: host.role,
    status: host.status,
    capacity: host.capacity,
    allocationFraction: host.allocationFraction,
    utilisation,
    configurationHash: host.appliedConfiguration?.hash,
  };
}

const lastValue = (window: UtilisationWindow): number | undefined => {
  for (let i = window.values.length - 1; i >= 0; i--) {
    const value = window.values[i];
    if (value !== null && value !== undefined) return value;
  }
  return undefined;
};

/**
 * Splits a host's latest utilisation among the workloads on it, in proportion to what each reserves: the policy
 * needs the moved workloads' load to know what a scale-back would bring home.
 */
function apportionHostUtilisation(hostId: string, hostWindows: UtilisationWindow[], workloads: WorkloadData[]): void {
  const onHost = workloads.filter((w) => w.hostId === hostId);
  for (const window of hostWindows) {
    const latest = lastValue(window);
    if (latest === undefined) continue;
    const key = CAPACITY_KEY[window.resource];
    const reserved = onHost.reduce((sum, w) => sum + w.resourceRequirements[key], 0);
    for (const w of onHost) {
      const share = reserved > 0 ? w.resourceRequirements[key] / reserved : 1 / onHost.length;
      w.utilisation = { ...w.utilisation, [window.resource]: latest * share };
    }
  }
}

/**
 * Forecasts the pair's whole demand per resource (the primary's load plus what its moved workloads put on the
 * shadow), so a scale-out does not erase the peak from the history the next day's forecast learns from. The
 * history is the pair's recorded demand where there is one, so it survives failovers and swaps (./pairDemand.ts),
 * and the newly complete steps are recorded. Reports
 * the primary's peaks (the pair's scaled by the share of the load still on the primary now) and the pair's own,
 * which scale-back is judged on. Also checks the latest actuals against the forecast made just before them: the
 * deviations are written to the metrics store, and an isolated spike is marked so the policy does not act on it.
 * Returns undefined (with the reasons in `issues`) when any resource could not be forecast.
 */
/**
 * Each pair's last forecast and a digest of what it was made from. Metrics change once a sample (at 1× with samples
 * every 5 min, 19 turns in 20 saw the same data): an observation whose forecast input is unchanged reuses the
 * forecast, and its writes (anomaly flags, forecast points) are the ones already made.
 */
export class ForecastMemo {
  private readonly entries = new Map<string, { digest: string; summary: ForecastSummary }>();
  constructor(private readonly maxPairs = 50_000) {}

  get(pairId: string, digest: string): ForecastSummary | undefined {
    const entry = this.entries.get(pairId);
    return entry?.digest === digest ? entry.summary : undefined;
  }

  set(pairId: string, digest: string, summary: ForecastSummary): void {
    this.entries.delete(pairId);
    this.entries.set(pairId, { digest, summary });
    if (this.entries.size > this.maxPairs) this.entries.delete(this.entries.keys().next().value!);
  }
}

async function forecastPairDemand(args: {
  forecaster: Forecaster;
  memo: ForecastMemo;
  metrics: MetricsStore;
  pairId: string;
  /** The pair's recorded demand over the window; undefined when it could not be read (the hosts' alone are used). */
  recorded: PairDemandPoint[] | undefined;
  rolesSince: number | undefined;
  primary: Host;
  shadow: Host | undefined;
  windows: UtilisationWindow[];
  shadowWindows: UtilisationWindow[];
  horizonsMinutes: number[];
  issuedAt: number;
  now: number;
  issues: string[];
  /** Told what was recorded, so a reader that keeps the record has it without reading it back. */
  onRecorded?: (points: PairDemandPoint[]) => void;
}): Promise<{ summary: ForecastSummary; reused: boolean } | undefined> {
  const { forecaster, primary, shadow, issues } = args;
  const horizon = Math.max(...args.horizonsMinutes);
  const pairWindows: UtilisationWindow[] = [];
  const toRecord: PairDemandPoint[] = [];
  for (const window of args.windows) {
    const key = CAPACITY_KEY[window.resource];
    const shadowWindow = args.shadowWindows.find((w) => w.resource === window.resource);
    // A host's utilisation is in percent of what it is allocated: the shadow's converts into the primary's.
    const allocated = primary.capacity[key] * primary.allocationFraction;
    const ratio =
      shadow !== undefined && allocated > 0 ? (shadow.capacity[key] * shadow.allocationFraction) / allocated : 0;
    let live: UtilisationWindow;
    try {
      live = pairDemandWindow(window, shadowWindow, ratio);
    } catch (error) {
      issues.push((error as Error).message);
      return undefined;
    }
    const followed = followPairDemand({
      pairId: args.pairId,
      primaryHostId: primary.id,
      live,
      recorded: (args.recorded ?? []).filter((p) => p.resource === window.resource),
      allocated,
      newestSampleAt: args.issuedAt,
      ...(args.rolesSince !== undefined ? { rolesSince: args.rolesSince } : {}),
    });
    pairWindows.push(followed.window);
    if (args.recorded !== undefined) toRecord.push(...followed.toRecord);
  }
  // Recorded steps are keyed by pair, resource and step: a retried or repeated write overwrites the same points.
  if (toRecord.length > 0)
    await args.metrics.writePairDemand(toRecord).then(
      () => args.onRecorded?.(toRecord),
      (error: unknown) => {
        issues.push(`pair demand not recorded: ${(error as Error).message}`);
      },
    );
  const histories = pairWindows.map((w) => ({ window: w, history: windowHistory(w) }));
  const primaryNow = (resource: UtilisationWindow['resource'], fallback: UtilisationWindow): number =>
    lastValue(args.windows.find((w) => w.resource === resource) ?? fallback) ?? 0;
  const digest = createHash('sha1')
    .update(
      JSON.stringify([
        primary.id,
        args.horizonsMinutes,
        forecaster.models().map((m) => `${m.model}:${m.version}`),
        histories.map(({ window, history }) => [window.resource, primaryNow(window.resource, window), history]),
      ]),
    )
    .digest('hex');
  const remembered = args.memo.get(args.pairId, digest);
  if (remembered) return { summary: remembered, reused: true };
  const contextOf = (resource: UtilisationWindow['resource']) =>
    Object.fromEntries(
      histories
        .filter((h) => h.window.resource !== resource)
        .map((h) => [FORECAST_RESOURCE[h.window.resource], h.history]),
    );
  // Both requests per resource go out at once: the forecaster batches concurrent calls (from every pair on this
  // worker) into one run per model.
  const results = await Promise.all(
    histories.map(async ({ window, history }) => {
      const { ahead, before } = pairForecastRequests({
        hostId: primary.id,
        resource: window.resource,
        history,
        horizonMinutes: horizon,
        now: args.now,
        context: contextOf(window.resource),
      });
      const [aheadResult, beforeResult] = await Promise.allSettled([
        forecaster.forecast(ahead),
        before ? forecaster.forecast(before) : Promise.reject(new Error('history too short for the anomaly check')),
      ]);
      return { window, history, ahead: aheadResult, before: beforeResult };
    }),
  );

  const forecasts: ResourceForecast[] = [];
  for (const { window, history, ahead, before } of results) {
    if (ahead.status === 'rejected') {
      issues.push(`${window.resource} forecast failed: ${(ahead.reason as Error).message}`);
      return undefined;
    }
    for (const w of ahead.value.warnings) issues.push(`${window.resource} forecast: ${w}`);
    forecasts.push({
      resource: window.resource,
      history,
      primaryNow: primaryNow(window.resource, window),
      ahead: ahead.value,
      ...(before.status === 'fulfilled' ? { before: before.value } : {}),
    });
  }
  const { summary, assessments } = summarisePairForecast(forecasts, args.horizonsMinutes, args.issuedAt);
  const anomalies: AnomalyEvent[] = assessments.flatMap(({ resource, assessment }) =>
    anomalyEvents(primary.id, resource, assessment),
  );
  // Flags are keyed by host, resource and time: writing the same ones again on the next observation overwrites them.
  if (anomalies.length > 0)
    await args.metrics.writeAnomalies(anomalies).catch((error: unknown) => {
      issues.push(`anomalies not recorded: ${(error as Error).message}`);
    });
  args.memo.set(args.pairId, digest, summary);
  return { summary, reused: false };
}

/** Writes a forecast's peaks beside the actuals, so any InfluxDB client can chart forecast against actual. */
async function writeForecastPeaks(metrics: MetricsStore, hostId: string, forecast: ForecastSummary): Promise<void> {
  await metrics.writeForecasts(
    forecast.peaks.map((p) => ({
      hostId,
      resource: p.resource,
      time: new Date(p.peakAt),
      issuedAt: new Date(forecast.issuedAt),
      model: forecast.model?.modelType ?? 'unknown',
      modelVersion: forecast.model?.version ?? 'unknown',
      horizonMinutes: p.horizonMinutes,
      yhat: p.peakPercent,
    })),
  );
}

/**
 * How a pair is observed: its hosts as the provider reports them, its utilisation windows and recorded demand
 * (reads of concurrent observations batched into one per 100 hosts), and its forecast (concurrent forecasts batched
 * into one model run; a forecast whose input has not changed since the pair's last one is reused).
 */
export function createPairObservation({
  metrics,
  forecaster,
}: Pick<OrchestrationDependencies, 'metrics' | 'forecaster'>) {
  // Kept between observations: each data step reads only the newest steps of every window.
  const readUtilisation = incrementalUtilisationReads(batchUtilisationReads(metrics));
  const readPairDemand = incrementalPairDemandReads(batchPairDemandReads(metrics));
  const forecastMemo = new ForecastMemo();
  return {
    /** Observes one pair in a fleet view that holds its hosts. */
    async observe(input: ObservePairInput, fleet: FleetSnapshot): Promise<PairObservation> {
      const { primary: primaryRef, shadowHostId } = input;
      const now = Date.parse(fleet.now);
      const primaryHost = fleet.hosts.find((h) => h.id === primaryRef.hostId);
      if (!primaryHost) {
        throw ApplicationFailure.nonRetryable(
          `pair ${input.pairId}: primary ${primaryRef.hostId} is not in the fleet`,
          FailureType.ProviderRejected,
        );
      }
      const shadowHost = shadowHostId ? fleet.hosts.find((h) => h.id === shadowHostId) : undefined;
      const issues: string[] = [];

      // The shadow's own stream matters only while it carries moved workloads: their load comes home on scale-back.
      const shadowServes =
        shadowHost !== undefined && shadowHost.status === 'active' && shadowHost.workloadIds.length > 0;
      let windows: UtilisationWindow[] = [];
      let shadowWindows: UtilisationWindow[] = [];
      // The window ends on the step grid after now, so pairs observing within the same step read the same window
      // and their reads are batched (the trailing steps with no samples yet are gaps, which nothing acts on).
      const stepMs = input.stepSeconds * 1000;
      const windowEnd = Math.ceil((now + 1) / stepMs) * stepMs;
      const windowStart = new Date(windowEnd - input.historyMinutes * 60_000);
      // Read beside the hosts' series; without it the pair forecasts from its hosts alone, as it says in its issues.
      const recordedDemand = readPairDemand({
        pairIds: [input.pairId],
        start: windowStart,
        end: new Date(windowEnd),
      }).catch((error: unknown) => {
        issues.push(`recorded pair demand unavailable: ${(error as Error).message}`);
        return undefined;
      });
      try {
        const all = await readUtilisation({
          hosts: [
            { hostId: primaryHost.id, networkMbps: primaryHost.capacity.networkMbps },
            ...(shadowServes ? [{ hostId: shadowHost.id, networkMbps: shadowHost.capacity.networkMbps }] : []),
          ],
          start: windowStart,
          end: new Date(windowEnd),
          stepSeconds: input.stepSeconds,
        });
        windows = all.filter((w) => w.hostId === primaryHost.id);
        shadowWindows = all.filter((w) => w.hostId !== primaryHost.id);
      } catch (error) {
        issues.push(`metrics unavailable: ${(error as Error).message}`);
      }
      // Awaited on every path, so a failed read is in this observation's issues whether or not it forecasts.
      const recorded = await recordedDemand;
      const utilisation: Partial<Utilisation> = {};
      let lastSampleAt: number | undefined;
      for (const window of windows) {
        const value = lastValue(window);
        if (value !== undefined) utilisation[window.resource] = value;
        if (window.lastSampleAt) lastSampleAt = Math.max(lastSampleAt ?? 0, Date.parse(window.lastSampleAt));
        for (const issue of window.issues)
          if (issue.kind !== 'gap') issues.push(`${window.resource}: ${issue.kind} — ${issue.detail}`);
      }
      // Data that trails the provider's clock by more than two steps describes the past, not now: deciding on it
      // would scale on a load that may be gone (or miss one that came). Such an observation takes no decision.
      const staleAfterMs = 2 * input.stepSeconds * 1000;
      const stale = lastSampleAt !== undefined && now - lastSampleAt > staleAfterMs;
      if (stale)
        issues.push(
          `metrics stale: the newest sample is ${Math.round((now - (lastSampleAt ?? now)) / 60_000)} min old`,
        );
      const complete = !stale && RESOURCES.every((r) => utilisation[r] !== undefined);

      let forecast: ForecastSummary | undefined;
      let reused = false;
      if (complete && lastSampleAt !== undefined) {
        const made = await forecastPairDemand({
          forecaster,
          memo: forecastMemo,
          metrics,
          pairId: input.pairId,
          recorded,
          rolesSince: input.rolesSince,
          primary: primaryHost,
          shadow: shadowServes ? shadowHost : undefined,
          windows,
          shadowWindows,
          horizonsMinutes: input.horizonsMinutes,
          issuedAt: lastSampleAt,
          now,
          issues,
          onRecorded: (points) => readPairDemand.remember(points),
        });
        forecast = made?.summary;
        reused = made?.reused ?? false;
      } else if (windows.length > 0 && !stale) {
        issues.push('no recent samples for every resource: no forecast this time');
      }
      if (forecast && !reused) {
        // A lost chart point must not cost the pair its decision: the failure is reported, the observation goes on.
        await writeForecastPeaks(metrics, primaryHost.id, forecast).catch((error: unknown) =>
          issues.push(`forecast not recorded: ${(error as Error).message}`),
        );
      }

      const workloads: WorkloadData[] = fleet.workloads
        .filter((w) => w.hostId === primaryHost.id || (shadowHost !== undefined && w.hostId === shadowHost.id))
        .map((w) => ({ workloadId: w.id, resourceRequirements: w.requirements, hostId: w.hostId }));
      if (shadowHost && shadowWindows.length > 0) apportionHostUtilisation(shadowHost.id, shadowWindows, workloads);

      return {
        now,
        primary: toHostData(primaryHost, complete ? (utilisation as Utilisation) : undefined),
        shadow: shadowHost ? toHostData(shadowHost) : undefined,
        workloads,
        forecast,
        mirror: {
          lastSampleAt,
          lagSeconds: lastSampleAt !== undefined ? Math.max(0, (now - lastSampleAt) / 1000) : undefined,
        },
        issues,
      };
    },
  };
}

export type PairObservationSource = ReturnType<typeof createPairObservation>;

export function createOrchestrationActivities({ provider, metrics, forecaster, temporal }: OrchestrationDependencies) {
  const observation = createPairObservation({ metrics, forecaster });
  /** Starts (or finds, by its key) an operation and waits for it, heartbeating its id and progress. */
  async function runOperation<K extends OperationKind>(
    what: string,
    start: () => Promise<Operation<K>>,
  ): Promise<Operation<K>> {
    const context = Context.current();
    try {
      // A retried attempt resumes waiting on the operation the previous attempt started. A provider that keeps its
      // operations in memory (Kubernetes) forgets them when its worker dies: the same idempotency key starts it again,
      // and the provider finds in the cluster's state what the first attempt already did.
      const resumed = context.info.heartbeatDetails as { operationId?: string } | undefined;
      const operation =
        (resumed?.operationId
          ? await provider.getOperation<K>(resumed.operationId).catch((error: unknown) => {
              if (isProviderError(error) && error.code === 'not_found') return undefined;
              throw error;
            })
          : undefined) ?? (await start());
      heartbeat({ operationId: operation.id, progress: operation.progress });
      return await provider.waitForOperation(operation, {
        // Seen soon after it ends: a failover's fence and activation wait on it.
        pollIntervalMs: OPERATION_POLL_INTERVAL_MS,
        onProgress: (op) => heartbeat({ operationId: op.id, progress: op.progress }),
        signal: context.cancellationSignal,
      });
    } catch (error) {
      throw asActivityFailure(error, what);
    }
  }

  const hostOf = (operation: Operation): Host => operation.result as Host;

  return {
    /** `afterMs`: a check confirming a failed one waits this long first (a workflow timer would round it up). */
    async checkHealth(
      hostId: string,
      options?: { afterMs?: number },
    ): Promise<{ healthy: boolean; status: string; checkedAt: number }> {
      if (options?.afterMs) await Context.current().sleep(options.afterMs);
      try {
        const report = await provider.healthCheck(hostId);
        return { healthy: report.healthy, status: describeHealth(report), checkedAt: Date.parse(report.checkedAt) };
      } catch (error) {
        throw asActivityFailure(error, `health check of ${hostId}`);
      }
    },

    /** One pair's observation now: its two hosts, its metrics, its forecast. */
    async observePair(input: ObservePairInput): Promise<PairObservation> {
      let fleet: FleetSnapshot;
      try {
        // Only the pair's own hosts: the whole fleet for every pair grows as pairs × fleet.
        fleet = await provider.describeFleet({
          hostIds: [input.primary.hostId, ...(input.shadowHostId ? [input.shadowHostId] : [])],
        });
      } catch (error) {
        throw asActivityFailure(error, 'describe fleet');
      }
      return observation.observe(input, fleet);
    },

    async activateShadow(input: { hostId: string; allocationFraction: number; idempotencyKey: string }): Promise<Host> {
      return hostOf(await runOperation(`activate shadow ${input.hostId}`, () => provider.activateShadow(input)));
    },

    /** Grows an active shadow; a shadow already at (or above) the size asked for is left as it is. */
    async scaleUpShadow(input: { hostId: string; allocationFraction: number; idempotencyKey: string }): Promise<Host> {
      const host = await provider.getHost(input.hostId).catch((error: unknown) => {
        throw asActivityFailure(error, `read shadow ${input.hostId}`);
      });
      if (host.allocationFraction >= input.allocationFraction) return host;
      return hostOf(await runOperation(`scale up shadow ${input.hostId}`, () => provider.scaleUpShadow(input)));
    },

    async deactivateShadow(input: {
      hostId: string;
      allocationFraction: number;
      idempotencyKey: string;
    }): Promise<Host> {
      return hostOf(await runOperation(`return ${input.hostId} to standby`, () => provider.deactivateShadow(input)));
    },

    async fenceHost(input: { hostId: string; idempotencyKey: string }): Promise<Host> {
      return hostOf(await runOperation(`fence ${input.hostId}`, () => provider.fenceHost(input)));
    },

    async setRole(input: { hostId: string; role: HostRole; idempotencyKey: string }): Promise<Host> {
      return hostOf(await runOperation(`make ${input.hostId} ${input.role}`, () => provider.setRole(input)));
    },

    async decommissionHost(input: { hostId: string; idempotencyKey: string }): Promise<Host> {
      return hostOf(await runOperation(`decommission ${input.hostId}`, () => provider.decommissionHost(input)));
    },

    async provisionHost(input: {
      hostId: string;
      region: string;
      zone: string;
      capacity: HostRef['capacity'];
      role: HostRole;
      pairId?: string;
      allocationFraction?: number;
      idempotencyKey: string;
    }): Promise<Host> {
      return hostOf(
        await runOperation(`provision ${input.hostId} in ${input.region}`, () => provider.provisionHost(input)),
      );
    },

    /**
     * Moves one workload; heartbeats the copy's progress, and a retry resumes the same migration. The answer names
     * the operation and the attempt that saw it finish, so a history shows a resumed migration ran once.
     */
    async migrateWorkload(input: {
      workloadId: string;
      sourceHostId: string;
      targetHostId: string;
      idempotencyKey: string;
    }): Promise<MigrationResult & { operationId: string; attempt: number }> {
      const what = `migrate ${input.workloadId} from ${input.sourceHostId} to ${input.targetHostId}`;
      const operation = await runOperation(what, () => provider.migrateWorkload(input));
      return {
        ...(operation.result as MigrationResult),
        operationId: operation.id,
        attempt: Context.current().info.attempt,
      };
    },

    async startReplication(input: {
      sourceHostId: string;
      targetHostId: string;
      idempotencyKey: string;
    }): Promise<ReplicationStatus> {
      const what = `replicate ${input.sourceHostId} to ${input.targetHostId}`;
      return (await runOperation(what, () => provider.startReplication(input))).result as ReplicationStatus;
    },

    async verifyReplication(input: { sourceHostId: string; targetHostId: string }): Promise<ReplicationStatus> {
      try {
        return await provider.verifyReplication(input);
      } catch (error) {
        throw asActivityFailure(error, `verify replication ${input.sourceHostId} → ${input.targetHostId}`);
      }
    },

    /** Copies the primary's applied configuration onto the shadow when their hashes differ; reports the drift. */
    async syncShadowConfiguration(input: {
      primaryHostId: string;
      shadowHostId: string;
      idempotencyKey: string;
    }): Promise<{ drifted: boolean; hash?: string }> {
      let primary: Host;
      let shadow: Host;
      try {
        [primary, shadow] = await Promise.all([
          provider.getHost(input.primaryHostId),
          provider.getHost(input.shadowHostId),
        ]);
      } catch (error) {
        throw asActivityFailure(error, `read configuration of ${input.primaryHostId} and ${input.shadowHostId}`);
      }
      // The caller's record can predate a swap (the fleet does not follow the pair's role swaps): the provider's
      // roles say which host serves, and the serving host's configuration is the one to keep. Copying the other
      // way would undo a change made on the live primary.
      if (primary.role === 'shadow' && shadow.role === 'primary') [primary, shadow] = [shadow, primary];
      const desired = primary.appliedConfiguration;
      if (!desired || desired.hash === shadow.appliedConfiguration?.hash)
        return { drifted: false, hash: desired?.hash };
      await runOperation(`sync configuration to ${shadow.id}`, () =>
        provider.syncConfiguration({
          hostId: shadow.id,
          desired: desired.values,
          idempotencyKey: `${input.idempotencyKey}:${desired.hash}`,
        }),
      );
      return { drifted: true, hash: desired.hash };
    },

    /**
     * The fleet, or only `hostIds` and their workloads. Heartbeats every second while the provider answers, so an
     * action child whose read died with its worker takes it up again within the FLEET_READ heartbeat timeout.
     */
    async describeFleet(input?: { hostIds?: string[] }) {
      const beating = setInterval(() => heartbeat(), FLEET_READ_HEARTBEAT_MS);
      try {
        return await provider.describeFleet(input?.hostIds ? { hostIds: input.hostIds } : undefined);
      } catch (error) {
        throw asActivityFailure(error, 'describe fleet');
      } finally {
        clearInterval(beating);
      }
    },

    async checkInvariants(): Promise<InvariantReport> {
      return provider.invariants();
    },

    /**
     * Creates or updates the pair's off-peak swap schedule (a Temporal Schedule, visible in the Web UI): a cron in
     * the pair's time zone, or the quietest window of the primary's last days of history.
     */
    async ensureSwapSchedule(input: {
      pairId: string;
      primaryHostId: string;
      offPeak: OffPeakSpec;
      scheduleId: string;
      workflowType: string;
      taskQueue: string;
    }): Promise<{ scheduleId: string; cronExpressions: string[]; timezone: string }> {
      if (!temporal)
        throw ApplicationFailure.nonRetryable(
          'no Temporal client: schedules cannot be managed here',
          FailureType.InvalidInput,
        );
      let history: { timestamps: number[]; values: number[] } | undefined;
      if (input.offPeak.kind === 'forecast') {
        const end =
          (await metrics.latestSampleTime([input.primaryHostId])) ??
          new Date(Date.parse((await provider.describeFleet()).now));
        const [cpu] = await metrics.readUtilisation({
          hosts: [{ hostId: input.primaryHostId }],
          resources: ['cpu'],
          start: new Date(end.getTime() - QUIET_WINDOW_HISTORY_DAYS * 86_400_000),
          end: new Date(end.getTime() + 1),
          stepSeconds: 300,
        });
        history = { timestamps: [], values: [] };
        cpu?.values.forEach((v, i) => {
          if (v === null) return;
          history!.timestamps.push(Date.parse(cpu.start) + i * cpu.stepSeconds * 1000);
          history!.values.push(v);
        });
      }
      let spec: { cronExpressions: string[]; timezone: string };
      try {
        const schedule = offPeakToScheduleSpec(input.offPeak, history);
        spec = { cronExpressions: schedule.cronExpressions, timezone: schedule.timezone };
      } catch (error) {
        throw ApplicationFailure.nonRetryable(
          `pair ${input.pairId}: ${(error as Error).message}`,
          FailureType.InvalidInput,
        );
      }
      const action = {
        type: 'startWorkflow' as const,
        workflowType: input.workflowType,
        taskQueue: input.taskQueue,
        args: [input.pairId],
        workflowId: `swap-schedule:${input.pairId}`,
      };
      try {
        await temporal.schedule.getHandle(input.scheduleId).update((previous) => ({ ...previous, spec, action }));
      } catch (error) {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
        await temporal.schedule.create({
          scheduleId: input.scheduleId,
          spec,
          action,
          policies: { overlap: 'SKIP' },
          state: { note: `off-peak role swap of pair ${input.pairId}` },
        });
      }
      return { scheduleId: input.scheduleId, ...spec };
    },
  };
}

export type OrchestrationActivities = ReturnType<typeof createOrchestrationActivities>;
