/**
 * Health watching (src/shared/healthWatch.ts): `enrolPrimary` is how a pair joins or leaves its shard's watchers;
 * `watchPrimaries` is one watcher's long-running loop. Each round checks every due primary of the shard in one
 * provider call, and a primary whose checks failed often enough in a row is reported to its pair with the
 * `primaryFailed` update, which the pair's validator accepts or refuses. The loop heartbeats every round, so a
 * watcher whose worker died is retried elsewhere within the heartbeat timeout while the other lane goes on checking.
 */
import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateStage, type Client } from '@temporalio/client';
import { WatchTracker, type FailureToReport } from '../src/health/watchTracker.js';
import {
  MAX_HEALTH_CHECK_BATCH,
  describeHealth,
  type FleetProvider,
  type HealthReport,
} from '../src/provider/types.js';
import {
  HEALTH_SHARDS,
  WATCH_LANES,
  type CarriedFailures,
  type PrimaryFailureReport,
  type WatchChange,
  type WatchLane,
  type WatchedPrimary,
  primaryFailedUpdate,
  primaryFailedUpdateId,
  shardOf,
  watchChangeSignal,
  watcherMembersQuery,
  watcherWorkflowId,
} from '../src/shared/healthWatch.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import { backgroundCalls, chunks, membersInBackground, pairStillRunning, shardMemberReader } from './shardMembers.js';
import { messageOf } from '../src/shared/failures.js';

export interface HealthWatchDependencies {
  provider: FleetProvider;
  temporal: Client;
}

/** How often a watcher re-reads its members (a pair that joined, or whose primary changed, waits at most this). */
const MEMBERS_REFRESH_MS = 2_000;
/** A watcher's activity returns after this long (its failing members carried over), so its workflow can move on. */
const DEFAULT_RUN_FOR_MS = 30 * 60_000;
/**
 * Failure reports one watcher has on their way at once. Each waits for its pair to accept it, a call the server counts
 * against the namespace's concurrent long polls: a region outage (a third of the fleet at once) exceeded that limit.
 */
const REPORTS_AT_ONCE = 16;
/** A member whose host the provider does not know is checked for a finished pair at most this often. */
const GONE_PAIR_RECHECK_MS = 60_000;

export interface EnrolPrimaryInput {
  taskQueue: string;
  pairId: string;
  /** Absent: the pair leaves its watchers (no shadow to fail over to, or failover held). */
  member?: WatchedPrimary;
}

export interface WatchPrimariesInput {
  taskQueue: string;
  shard: number;
  lane: WatchLane;
  /** The watcher workflow running this activity: where changes to its members are read. */
  watcherWorkflowId: string;
  /** The members when the activity was scheduled, so it checks at once, before its first read of changes. */
  members?: WatchedPrimary[];
  version?: number;
  carried?: CarriedFailures;
  runForMs?: number;
}

export interface WatchPrimariesResult {
  rounds: number;
  reported: number;
  carried: CarriedFailures;
}

/** Lane b checks half an interval after lane a, and shards are spread across the first half. */
const gridOffset = (shard: number, lane: WatchLane): number =>
  (lane === 'b' ? 0.5 : 0) + (shard % HEALTH_SHARDS) / (2 * HEALTH_SHARDS);

export function createHealthWatchActivities({ provider, temporal }: HealthWatchDependencies) {
  return {
    /** Tells both lanes of the pair's shard, starting a watcher workflow that is not running yet. */
    async enrolPrimary({ taskQueue, pairId, member }: EnrolPrimaryInput): Promise<string[]> {
      const shard = shardOf(pairId);
      const change: WatchChange = member ? { pairId, member } : { pairId };
      return Promise.all(
        WATCH_LANES.map(async (lane) => {
          const workflowId = watcherWorkflowId(taskQueue, shard, lane);
          await temporal.workflow.signalWithStart('healthWatcherWorkflow', {
            workflowId,
            taskQueue,
            args: [{ taskQueue, shard, lane }],
            signal: watchChangeSignal,
            signalArgs: [change],
            staticSummary: `health watcher, shard ${shard} lane ${lane}`,
          });
          return workflowId;
        }),
      );
    },

    async watchPrimaries(input: WatchPrimariesInput): Promise<WatchPrimariesResult> {
      const context = Context.current();
      const tracker = new WatchTracker(gridOffset(input.shard, input.lane), input.carried);
      const watcher = temporal.workflow.getHandle(input.watcherWorkflowId);
      const deadline = Date.now() + (input.runForMs ?? DEFAULT_RUN_FOR_MS);
      const reports = new Set<Promise<void>>();
      const queuedReports: FailureToReport[] = [];
      let stopping = false;
      const goneChecks = new Map<string, number>();
      // An attempt scheduled without members (by an older watcher) reads them all first.
      const reader = shardMemberReader(
        temporal,
        input.watcherWorkflowId,
        watcherMembersQuery,
        input.members ? input.version : undefined,
      );
      // Reports, looks at gone pairs and member reads run beside the loop, and end with it.
      const calls = backgroundCalls(temporal);
      tracker.setMembers(input.members ?? [], Date.now());
      let membersReadAt = Date.now();
      let rounds = 0;
      let reported = 0;

      const leave = async (pairId: string): Promise<void> => {
        tracker.remove(pairId);
        await watcher.signal(watchChangeSignal, { pairId }).catch(() => undefined);
      };

      const report = async (failure: FailureToReport): Promise<void> => {
        const { member } = failure;
        const evidence: PrimaryFailureReport = {
          primaryHostId: member.primaryHostId,
          generation: member.generation,
          failedChecksAt: failure.failedChecksAt,
          status: failure.status,
          reportedAt: Date.now(),
          watcher: input.watcherWorkflowId,
        };
        try {
          await temporal.workflow.getHandle(pairWorkflowId(member.pairId)).startUpdate(primaryFailedUpdate, {
            args: [evidence],
            updateId: primaryFailedUpdateId(evidence),
            waitForStage: WorkflowUpdateStage.ACCEPTED,
          });
          reported += 1;
          log.info('reported a failed primary', { pairId: member.pairId, primaryHostId: member.primaryHostId });
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) return leave(member.pairId);
          // Not delivered (a pair's refusal does not throw here): the evidence stands for the next failed check.
          tracker.undelivered(member.pairId);
          log.warn('failure report not delivered', { pairId: member.pairId, reason: messageOf(error) });
        }
      };

      const sendReports = (): void => {
        while (!stopping && reports.size < REPORTS_AT_ONCE && queuedReports.length > 0) {
          const failure = queuedReports.shift()!;
          const sent: Promise<void> = calls
            .start(() => report(failure))
            .catch(() => tracker.undelivered(failure.member.pairId))
            .finally(() => {
              reports.delete(sent);
              sendReports();
            });
          reports.add(sent);
        }
      };

      // A host the provider no longer knows is normal for a pair that has gone; a running pair keeps its member.
      const checkGone = async (member: WatchedPrimary, now: number): Promise<void> => {
        if (now - (goneChecks.get(member.pairId) ?? Number.NEGATIVE_INFINITY) < GONE_PAIR_RECHECK_MS) return;
        goneChecks.set(member.pairId, now);
        if (!(await pairStillRunning(temporal, member.pairId))) await leave(member.pairId);
      };

      const memberReads = membersInBackground(reader, calls);
      try {
        while (Date.now() < deadline) {
          const now = Date.now();
          const changed = memberReads.take();
          if (changed) tracker.setMembers(changed, now);
          if (now - membersReadAt >= MEMBERS_REFRESH_MS) {
            membersReadAt = now;
            memberReads.refresh();
          }
          const due = tracker.due(now);
          if (due.length > 0) {
            const answers = new Map<string, HealthReport>();
            const unknown = new Set<string>();
            await Promise.all(
              chunks(
                due.map((m) => m.primaryHostId),
                MAX_HEALTH_CHECK_BATCH,
              ).map(async (hostIds) => {
                // An unanswered call is no evidence: its members are simply checked again at their next turn.
                const answer = await provider.healthCheckMany(hostIds).catch(() => undefined);
                for (const r of answer?.reports ?? []) answers.set(r.hostId, r);
                for (const id of answer?.unknown ?? []) unknown.add(id);
              }),
            );
            for (const member of due) {
              const r = answers.get(member.primaryHostId);
              const failure = tracker.record(
                member.pairId,
                r && { healthy: r.healthy, status: describeHealth(r), checkedAt: Date.parse(r.checkedAt) },
                now,
              );
              if (failure) queuedReports.push(failure);
              if (unknown.has(member.primaryHostId))
                void calls.start(() => checkGone(member, now)).catch(() => undefined);
            }
            sendReports();
          }
          rounds += 1;
          context.heartbeat({ rounds, members: tracker.size });
          const wakeAt = Math.min(tracker.nextDueAt(), membersReadAt + MEMBERS_REFRESH_MS, deadline);
          // Rejects with a CancelledFailure when the watcher workflow moves on or the worker shuts down. A read of the
          // members that ends sooner wakes the loop to take them.
          await memberReads.wait(context.sleep(Math.max(0, wakeAt - Date.now())));
        }
        stopping = true;
        while (reports.size > 0) await Promise.allSettled([...reports]);
        // Reports still queued go to the next run with their evidence.
        for (const failure of queuedReports) tracker.undelivered(failure.member.pairId);
        return { rounds, reported, carried: tracker.failing() };
      } finally {
        stopping = true;
        await calls.settle();
      }
    },
  };
}

export type HealthWatchActivities = ReturnType<typeof createHealthWatchActivities>;
