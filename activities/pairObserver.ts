/**
 * Observation (src/shared/observation.ts): `enrolObserved` is how a pair joins, changes or leaves its shard's
 * observer; `observePairs` is the observer's long-running loop. Every round it observes the shard's due pairs (one
 * fleet read per 200 hosts, their metrics and forecasts batched by the observation source), takes each pair's
 * scaling decision with the pure policy, records the decisions whose data is new, and sends a pair that must act
 * the `act` update. It heartbeats the pairs' scaling memories and what it recorded, every round and every few seconds
 * while a turn reads and forecasts, so a retry on another worker goes on from them.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateStage, type Client } from '@temporalio/client';
import type { MetricsStore, DecisionPoint } from '../src/metrics/types.js';
import type { Forecaster } from '../src/forecast/types.js';
import { decideScaling } from '../src/policy/scaling.js';
import type { ScalingMemory } from '../src/policy/types.js';
import type { FleetProvider, FleetSnapshot } from '../src/provider/types.js';
import { messageOf } from '../src/shared/failures.js';
import { shardOf } from '../src/shared/healthWatch.js';
import {
  type ObservationChange,
  type ObservedPair,
  type ScalingOrder,
  actUpdate,
  actUpdateId,
  observationChangeSignal,
  observedMembersQuery,
  observerWorkflowId,
} from '../src/shared/observation.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import { createPairObservation, type PairObservation } from './orchestration.js';
import { backgroundCalls, chunks, membersInBackground, pairStillRunning, shardMemberReader } from './shardMembers.js';

export interface PairObserverDependencies {
  provider: FleetProvider;
  metrics: MetricsStore;
  forecaster: Forecaster;
  temporal: Client;
}

/** Forecast history: two days, a season to forecast from and one to check it against. */
export const OBSERVED_HISTORY_MINUTES = 2 * 24 * 60;
/** The metrics' step (Telegraf's 5-minute grid): windows and forecasts are on it. */
export const OBSERVED_STEP_SECONDS = 300;
/** How often an observer re-reads its members (a pair that joined or changed waits at most this for its decision). */
const MEMBERS_REFRESH_MS = 2_000;
/** An observer's activity returns after this long (its memories carried over), so its workflow can move on. */
const DEFAULT_RUN_FOR_MS = 30 * 60_000;
/** Hosts per fleet read or newest-sample query: the host ids travel in the request. */
const MAX_DESCRIBED_HOSTS = 200;
/** How often a long turn heartbeats (the worker sends them on at most every two seconds: HEARTBEAT_THROTTLE). */
const TURN_HEARTBEAT_MS = 3_000;
/**
 * A turn that takes longer than this is stuck (the slowest measured took 13 s, at 10,000 pairs on two cores): the
 * attempt fails and is retried from its last heartbeat, instead of heartbeating on while its shard goes undecided.
 */
export const TURN_LIMIT_MS = 120_000;
/** A member whose primary the provider does not know is checked for a finished pair at most this often. */
const GONE_PAIR_RECHECK_MS = 60_000;

export interface EnrolObservedInput {
  taskQueue: string;
  pairId: string;
  /** Absent: the pair leaves its observer. */
  member?: ObservedPair;
}

export interface ObservePairsInput {
  taskQueue: string;
  shard: number;
  /** The observer workflow running this activity: where changes to its members are read. */
  observerWorkflowId: string;
  /** The members when the activity was scheduled; absent, it reads them first. */
  members?: ObservedPair[];
  version?: number;
  memories?: Record<string, ScalingMemory>;
  runForMs?: number;
  /** How long one turn may take (default TURN_LIMIT_MS). */
  turnLimitMs?: number;
}

export interface ObservePairsResult {
  rounds: number;
  /** Decisions recorded (one per pair and new data step, and every one that sent an order). */
  decisions: number;
  /** Orders the pairs accepted. */
  orders: number;
  memories: Record<string, ScalingMemory>;
}

/** What an observer heartbeats: enough for a retried attempt to go on where this one was. */
interface ObserverProgress {
  rounds: number;
  memories: Record<string, ScalingMemory>;
  /** Per pair, the forecast time of its last recorded decision. */
  recorded: Record<string, number>;
}

export function createPairObserverActivities({ provider, metrics, forecaster, temporal }: PairObserverDependencies) {
  const observation = createPairObservation({ metrics, forecaster });

  /** One fleet view holding every host the due members need (undefined when the provider did not answer). */
  async function describeHosts(members: ObservedPair[]): Promise<FleetSnapshot | undefined> {
    const hostIds = members.flatMap((m) => [m.primary.hostId, ...(m.shadowHostId ? [m.shadowHostId] : [])]);
    try {
      const parts = await Promise.all(
        chunks(hostIds, MAX_DESCRIBED_HOSTS).map((ids) => provider.describeFleet({ hostIds: ids })),
      );
      return {
        now: parts.map((p) => p.now).sort()[parts.length - 1] ?? new Date(0).toISOString(),
        hosts: parts.flatMap((p) => p.hosts),
        workloads: parts.flatMap((p) => p.workloads),
      };
    } catch (error) {
      log.warn('could not read the fleet; the due pairs are observed at their next turn', { error: messageOf(error) });
      return undefined;
    }
  }

  /**
   * Data time of the newest sample of any of the members' primaries after `after` (every member's last observed
   * sample is at or after it, so the store reads only its newest data): `after` itself when none came since, and
   * undefined when it could not be read.
   */
  async function newestSample(members: ObservedPair[], after: number | undefined): Promise<number | undefined> {
    try {
      const times = await Promise.all(
        chunks(
          members.map((m) => m.primary.hostId),
          MAX_DESCRIBED_HOSTS,
        ).map((ids) => metrics.latestSampleTime(ids, after !== undefined ? new Date(after) : undefined)),
      );
      const known = times.filter((t): t is Date => t !== undefined).map((t) => t.getTime());
      return known.length > 0 ? Math.max(...known) : after;
    } catch {
      return undefined; // observed anyway: the observation reports what is missing
    }
  }

  return {
    /** Tells the pair's shard observer, starting it if it is not running yet. */
    async enrolObserved({ taskQueue, pairId, member }: EnrolObservedInput): Promise<string> {
      const shard = shardOf(pairId);
      const workflowId = observerWorkflowId(taskQueue, shard);
      const change: ObservationChange = member ? { pairId, member } : { pairId };
      await temporal.workflow.signalWithStart('pairObserverWorkflow', {
        workflowId,
        taskQueue,
        args: [{ taskQueue, shard }],
        signal: observationChangeSignal,
        signalArgs: [change],
        staticSummary: `pair observer, shard ${shard}`,
      });
      return workflowId;
    },

    async observePairs(input: ObservePairsInput): Promise<ObservePairsResult> {
      const context = Context.current();
      const resumed = context.info.heartbeatDetails as ObserverProgress | undefined;
      const memories: Record<string, ScalingMemory> = { ...(resumed?.memories ?? input.memories) };
      const reader = shardMemberReader(
        temporal,
        input.observerWorkflowId,
        observedMembersQuery,
        input.members ? input.version : undefined,
      );
      const observer = temporal.workflow.getHandle(input.observerWorkflowId);
      const deadline = Date.now() + (input.runForMs ?? DEFAULT_RUN_FOR_MS);
      const members = new Map<string, ObservedPair>();
      const dueAt = new Map<string, number>();
      /** The forecast time of each pair's last recorded decision: a decision on the same data is not recorded again. */
      const recordedIssuedAt = new Map<string, number>(Object.entries(resumed?.recorded ?? {}));
      /**
       * The newest sample of its own primary each pair was observed with: it is observed again once the shard has
       * newer data (a host whose newest step was not written yet at one turn is looked at again at the next).
       */
      const observedAtSample = new Map<string, number>(Object.entries(resumed?.recorded ?? {}));
      /** Pairs that joined or changed since they were last observed: observed at their next turn whatever the data. */
      const fresh = new Set<string>();
      const goneChecks = new Map<string, number>();
      let rounds = 0;
      let decisions = 0;
      let orders = 0;
      /** Set when a turn outlasted its limit: should it ever go on, it must neither order nor record. */
      let abandoned = false;

      // A retried attempt (its worker died, or a turn outlasted the heartbeat timeout) goes on from here: the same
      // memories, and no decision recorded twice.
      const progress = (): ObserverProgress => ({ rounds, memories, recorded: Object.fromEntries(recordedIssuedAt) });

      /** Everything kept for a pair that left, so neither the loop nor the heartbeat carries it on. */
      const forget = (pairId: string): void => {
        members.delete(pairId);
        dueAt.delete(pairId);
        fresh.delete(pairId);
        observedAtSample.delete(pairId);
        recordedIssuedAt.delete(pairId);
        goneChecks.delete(pairId);
        delete memories[pairId];
      };

      const setMembers = (list: ObservedPair[], now: number): void => {
        const ids = new Set(list.map((m) => m.pairId));
        for (const pairId of members.keys()) if (!ids.has(pairId)) forget(pairId);
        for (const member of list) {
          const known = members.get(member.pairId);
          members.set(member.pairId, member);
          // A pair that joined or changed (an action done, a policy or a pause) is decided for at once.
          if (!known || JSON.stringify(known) !== JSON.stringify(member)) {
            dueAt.set(member.pairId, now);
            fresh.add(member.pairId);
          }
          memories[member.pairId] ??= member.scaling;
        }
      };

      const leave = async (pairId: string): Promise<void> => {
        forget(pairId);
        await observer.signal(observationChangeSignal, { pairId }).catch(() => undefined);
      };

      // A primary the provider no longer knows is normal for a pair that has gone; a running pair stays.
      const checkGone = async (pairId: string, now: number): Promise<void> => {
        if (now - (goneChecks.get(pairId) ?? Number.NEGATIVE_INFINITY) < GONE_PAIR_RECHECK_MS) return;
        goneChecks.set(pairId, now);
        if (!(await pairStillRunning(temporal, pairId))) await leave(pairId);
      };

      /** Sends the pair its order; true when the pair took it. */
      const send = async (member: ObservedPair, order: ScalingOrder): Promise<boolean> => {
        if (abandoned) return false;
        try {
          await temporal.workflow.getHandle(pairWorkflowId(member.pairId)).startUpdate(actUpdate, {
            args: [order],
            updateId: actUpdateId(member.pairId, order),
            waitForStage: WorkflowUpdateStage.ACCEPTED,
          });
          return true;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) await leave(member.pairId);
          // Refused (the pair is acting, paused, or has another primary now): decided again at its next turn.
          else log.info('order not taken', { pairId: member.pairId, reason: messageOf(error) });
          return false;
        }
      };

      const decide = async (
        member: ObservedPair,
        fleet: FleetSnapshot,
        now: number,
        newest: number | undefined,
        fleetReadAt: number,
      ): Promise<DecisionPoint | undefined> => {
        const { pairId, policy } = member;
        let observed: PairObservation;
        try {
          observed = await observation.observe(
            {
              pairId,
              primary: member.primary,
              ...(member.shadowHostId !== undefined ? { shadowHostId: member.shadowHostId } : {}),
              horizonsMinutes: policy.horizonsMinutes,
              historyMinutes: OBSERVED_HISTORY_MINUTES,
              stepSeconds: OBSERVED_STEP_SECONDS,
              ...(member.rolesSince !== undefined ? { rolesSince: member.rolesSince } : {}),
            },
            fleet,
          );
        } catch (error) {
          if (!fleet.hosts.some((h) => h.id === member.primary.hostId)) await checkGone(pairId, now);
          else log.warn('observation failed; no decision this turn', { pairId, error: messageOf(error) });
          return undefined;
        }
        // A pair with no data at all waits for the shard's next step, not for its own.
        const seen = observed.mirror.lastSampleAt ?? newest;
        if (seen !== undefined) observedAtSample.set(pairId, seen);
        const forecast = observed.forecast;
        if (!forecast) return undefined; // missing data: never act on it
        const before = memories[pairId] ?? member.scaling;
        const decision = decideScaling({
          pair: {
            pairId,
            primary: observed.primary,
            shadow: observed.shadow,
            workloads: observed.workloads,
            movedToShadow: member.movedToShadow,
          },
          forecast,
          policy,
          memory: before,
          now: observed.now,
        });
        memories[pairId] = decision.memory;
        const actualPercent = decision.bindingResource
          ? observed.primary.utilisation?.[decision.bindingResource]
          : undefined;
        // A paused pair takes no action; in forecast-only mode it records the one it would take.
        const ordered =
          decision.action.kind !== 'none' &&
          !member.paused &&
          (member.phase === 'steady' || member.phase === 'scaled-out') &&
          (decision.execute || policy.forecastOnly);
        let executed = false;
        if (ordered) {
          const taken = await send(member, {
            primaryHostId: member.primary.hostId,
            generation: member.generation,
            action: decision.action,
            reason: decision.reason,
            execute: decision.execute,
            at: observed.now,
            ...(actualPercent !== undefined ? { actualPercent } : {}),
            forecast,
            memory: decision.memory,
            mirror: {
              ...(observed.mirror.lastSampleAt !== undefined ? { lastSampleAt: observed.mirror.lastSampleAt } : {}),
              ...(observed.mirror.lagSeconds !== undefined ? { lagSeconds: observed.mirror.lagSeconds } : {}),
              dataIssues: observed.issues,
            },
          });
          if (taken) {
            orders += 1;
            executed = decision.execute;
          } else {
            memories[pairId] = before; // not taken: the pair's memory did not move
          }
        }
        if (!ordered && recordedIssuedAt.get(pairId) === forecast.issuedAt) return undefined;
        recordedIssuedAt.set(pairId, forecast.issuedAt);
        return {
          pairId,
          hostId: member.primary.hostId,
          time: new Date(observed.now),
          action: decision.action.kind,
          executed,
          reason: decision.reason,
          issuedAt: new Date(forecast.issuedAt),
          decidedAfterMs: Date.now() - fleetReadAt,
          ...(decision.bindingResource !== undefined ? { bindingResource: decision.bindingResource } : {}),
          ...(decision.peakPercent !== undefined ? { peakPercent: decision.peakPercent } : {}),
          ...(actualPercent !== undefined ? { actualPercent } : {}),
          ...(forecast.model ? { model: forecast.model.modelType } : {}),
          ...(forecast.model?.version !== undefined ? { modelVersion: forecast.model.version } : {}),
        };
      };

      /** Observes the due pairs that have newer data (or changed), and records their decisions. */
      const turn = async (due: ObservedPair[], now: number): Promise<void> => {
        // Forecasts change only with the data: a pair is observed when a newer sample came (or it changed), not
        // on every turn, so a shard costs one cheap read per turn between data steps: of the samples after the
        // oldest one a due pair was last observed with.
        const seen = due.map((m) => observedAtSample.get(m.pairId));
        const after = seen.every((t) => t !== undefined) ? Math.min(...seen) : undefined;
        const newest = await newestSample(due, after);
        const observing = due.filter(
          (m) =>
            fresh.has(m.pairId) ||
            newest === undefined ||
            newest > (observedAtSample.get(m.pairId) ?? Number.NEGATIVE_INFINITY),
        );
        if (observing.length === 0) return;
        const fleetReadAt = Date.now();
        const fleet = await describeHosts(observing);
        if (!fleet) return;
        for (const m of observing) fresh.delete(m.pairId);
        const made = await Promise.all(observing.map((m) => decide(m, fleet, now, newest, fleetReadAt)));
        const records = made.filter((d): d is DecisionPoint => d !== undefined);
        if (records.length === 0 || abandoned) return;
        // A lost audit point must not stop the decisions: it is logged, the loop goes on.
        try {
          await metrics.writeDecisions(records);
          decisions += records.length;
        } catch (error) {
          log.warn('decisions not recorded', { error: messageOf(error) });
        }
      };

      setMembers(input.members ?? [], Date.now());
      let membersReadAt = Number.NEGATIVE_INFINITY;
      if (input.members) membersReadAt = Date.now();
      // Member reads, and a turn that outlasted its limit, run beside the loop and end with it.
      const calls = backgroundCalls(temporal);
      const memberReads = membersInBackground(reader, calls);
      try {
        while (Date.now() < deadline) {
          const now = Date.now();
          const changed = memberReads.take();
          if (changed) setMembers(changed, now);
          if (now - membersReadAt >= MEMBERS_REFRESH_MS) {
            membersReadAt = now;
            memberReads.refresh();
          }
          const due = [...members.values()].filter((m) => (dueAt.get(m.pairId) ?? 0) <= now);
          if (due.length > 0) {
            for (const m of due) {
              // A fixed cadence per pair; one that fell behind (a slow round) starts again from now.
              const next = (dueAt.get(m.pairId) ?? now) + m.policy.tickSeconds * 1000;
              dueAt.set(m.pairId, next > now ? next : now + m.policy.tickSeconds * 1000);
            }
            // A turn that reads and forecasts a whole shard takes a while (and a busy store answers slowly): it must
            // not look like a dead worker, or a second attempt would start beside it.
            const beating = setInterval(() => context.heartbeat(progress()), TURN_HEARTBEAT_MS);
            const turnLimitMs = input.turnLimitMs ?? TURN_LIMIT_MS;
            let limit: NodeJS.Timeout | undefined;
            try {
              await Promise.race([
                // A turn that outlasts its limit is left behind: its calls are cancelled when the activity ends.
                calls.startUnkept(() => turn(due, now)),
                new Promise<never>((_, reject) => {
                  limit = setTimeout(() => {
                    abandoned = true;
                    reject(
                      ApplicationFailure.retryable(
                        `a turn of ${due.length} pairs outlasted ${turnLimitMs / 1000} s; trying again`,
                        'ObserverTurnStuck',
                      ),
                    );
                  }, turnLimitMs);
                }),
              ]);
            } finally {
              clearInterval(beating);
              clearTimeout(limit);
            }
          }
          rounds += 1;
          context.heartbeat(progress());
          const nextDue = Math.min(...dueAt.values());
          const wakeAt = Math.min(nextDue, membersReadAt + MEMBERS_REFRESH_MS, deadline);
          // Rejects with a CancelledFailure when the observer workflow moves on or the worker shuts down. A read of the
          // members that ends sooner wakes the loop to take them.
          await memberReads.wait(context.sleep(Math.max(0, wakeAt - Date.now())));
        }
        return { rounds, decisions, orders, memories };
      } finally {
        await calls.settle();
      }
    },
  };
}

export type PairObserverActivities = ReturnType<typeof createPairObserverActivities>;
