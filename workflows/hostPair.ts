/**
 * hostPairWorkflow (id `pair:<pairId>`): owns one primary and its shadow for as long as the pair exists. It does not
 * poll its primary: it enrols it with its shard's health watchers, which report a failed primary with the
 * `primaryFailed` update, and the pair fails over when the report still holds. It does not tick either: it enrols
 * with its shard's observer, which forecasts and decides for every pair of the shard in batches, records each
 * decision, and sends the pair an `act` update only when it must act; the pair runs the action as a child workflow.
 * Between messages it sleeps. Operators steer it with signals (pause, resume, forceSwap), read it with the `state`
 * query, and use updates for what needs an answer (failover, setPolicy). History stays bounded through
 * continue-as-new, which carries the whole state.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  executeChild,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { HealthWatchActivities } from '../activities/healthWatch.js';
import type { OrchestrationActivities } from '../activities/orchestration.js';
import type { PairObserverActivities } from '../activities/pairObserver.js';
import { policySchema } from '../src/config/schema.js';
import type { ScalingAction } from '../src/policy/types.js';
import { FailureType, messageOf } from '../src/shared/failures.js';
import {
  MAX_FAILURE_REPORT_AGE_MS,
  type PrimaryFailureReport,
  type WatchedPrimary,
  primaryFailedUpdate,
} from '../src/shared/healthWatch.js';
import {
  type ActResult,
  type ObservedPair,
  type ScalingOrder,
  actUpdate,
  scalingOrderProblem,
} from '../src/shared/observation.js';
import {
  type ActionRecord,
  type FailoverResult,
  type HostPairInput,
  type PairPhase,
  type PairState,
  type SwapNowResult,
  failoverUpdate,
  forceSwapRequestProblem,
  forceSwapSignal,
  hostRefProblem,
  offPeakSwapSignal,
  pauseRequestProblem,
  pauseSignal,
  resumeSignal,
  setPolicyUpdate,
  shadowConsumedSignal,
  shadowReplacedSignal,
  stateQuery,
  swapNowUpdate,
  swapScheduleId,
} from '../src/shared/pair.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import { failoverWorkflow, scaleBackWorkflow, scaleOutWorkflow, swapWorkflow } from './actions.js';
import { QUICK_LOCAL_CALL } from './profiles.js';

const watchers = proxyActivities<HealthWatchActivities>(QUICK_LOCAL_CALL);
const observers = proxyActivities<PairObserverActivities>(QUICK_LOCAL_CALL);
const record = proxyActivities<OrchestrationActivities>(QUICK_LOCAL_CALL);

/** Kept in the state for the operator; older actions are in the workflow histories of the children. */
const RECENT_ACTIONS_KEPT = 20;
/**
 * Continue-as-new after this many loop iterations (one per wake: an action, an operator's message, a new shadow) even
 * when the server does not suggest it: a short run is a short replay for a worker that takes the pair over.
 */
const DEFAULT_ITERATIONS_PER_RUN = 120;
/** A pair with nothing to do still wakes this often, so a quiet pair's run ends and its history stays short. */
const IDLE_WAKE = '1 day';
/** Answered update ids kept across continue-as-new (the server de-duplicates ids only within one run). */
const ANSWERED_UPDATES_KEPT = 20;
/** The swap pre-check accepts a shadow this far behind. */
const MAX_SWAP_REPLICATION_LAG_SECONDS = 30;

function initialState(input: HostPairInput): PairState {
  return {
    pairId: input.pairId,
    primary: input.primary,
    shadow: input.shadow,
    phase: input.shadow ? 'steady' : 'unprotected',
    paused: false,
    failoverEnabled: true,
    policy: input.policy,
    recentActions: [],
    health: {},
    observation: {},
    mirror: { dataIssues: [] },
    movedToShadow: [],
    scaling: {},
    counters: { orders: 0, failovers: 0, swaps: 0, scaleOuts: 0, scaleBacks: 0, runs: 0 },
  };
}

export async function hostPairWorkflow(input: HostPairInput): Promise<PairState> {
  const state: PairState = input.state ?? initialState(input);
  state.counters.runs += 1;
  const info = workflowInfo();

  // ---- search attributes: what the Web UI filters the fleet by ----------------------------------------------------
  const publish = (): void => {
    upsertSearchAttributes([
      { key: SearchAttributeKeys.PairId, value: state.pairId },
      { key: SearchAttributeKeys.PrimaryHost, value: state.primary.hostId },
      { key: SearchAttributeKeys.PrimaryRegion, value: state.primary.region },
      { key: SearchAttributeKeys.ShadowHost, value: state.shadow?.hostId ?? null },
      { key: SearchAttributeKeys.ShadowRegion, value: state.shadow?.region ?? null },
      { key: SearchAttributeKeys.PairPhase, value: state.phase },
      { key: SearchAttributeKeys.Paused, value: state.paused },
    ]);
  };
  const setPhase = (phase: PairPhase): void => {
    state.phase = phase;
    publish();
  };
  const remember = (action: ActionRecord): void => {
    state.lastAction = action;
    state.recentActions.push(action);
    if (state.recentActions.length > RECENT_ACTIONS_KEPT) state.recentActions.shift();
  };
  publish();

  // ---- one action at a time: the loop and the update handlers share this lock -------------------------------------
  let acting = false;
  async function exclusively<T>(work: () => Promise<T>): Promise<T> {
    await condition(() => !acting);
    acting = true;
    try {
      return await work();
    } finally {
      acting = false;
    }
  }

  let wake = false;
  const pending = (state.pending ??= {});

  // ---- update ids answered in earlier runs --------------------------------------------------------------------------
  // A caller that retries an update (a rollout's swap, say) after the pair continued as new gets the first answer
  // again instead of a second action.
  const answered = (state.answeredUpdates ??= []);
  const earlierAnswer = (): { result: unknown } | undefined => {
    const id = currentUpdateInfo()?.id;
    return id === undefined ? undefined : answered.find((a) => a.id === id);
  };
  async function answerOnce<T>(work: () => Promise<T>): Promise<T> {
    const earlier = earlierAnswer();
    if (earlier) return earlier.result as T;
    const id = currentUpdateInfo()?.id;
    const result = await work();
    if (id !== undefined) {
      answered.push({ id, result });
      if (answered.length > ANSWERED_UPDATES_KEPT) answered.shift();
    }
    return result;
  }
  // The schedule is (re)applied on a pair's first run and whenever the operator changes its off-peak spec.
  if (state.swapSchedule === undefined) pending.swapScheduleOutdated = true;

  // ---- operator messages ----------------------------------------------------------------------------------------------
  setHandler(stateQuery, () => state);
  // Signals cannot be refused: a malformed payload is dropped with a warning, and nothing changes.
  const ignored = (problem: string): void => log.warn(`pair ${state.pairId}: signal ignored: ${problem}`);
  setHandler(pauseSignal, (request) => {
    const problem = pauseRequestProblem(request);
    if (problem !== undefined) return ignored(problem);
    state.paused = true;
    if (request?.disableFailover) state.failoverEnabled = false;
    publish();
    wake = true; // a held failover leaves the watchers
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    state.failoverEnabled = true;
    publish();
    wake = true;
  });
  setHandler(forceSwapSignal, (request) => {
    const problem = forceSwapRequestProblem(request);
    if (problem !== undefined) return ignored(problem);
    pending.swapRequest = `operator: ${request?.reason ?? 'forceSwap signal'}`;
    wake = true;
  });
  setHandler(offPeakSwapSignal, () => {
    pending.swapRequest = 'off-peak schedule';
    wake = true;
  });
  setHandler(shadowReplacedSignal, (shadow) => {
    const problem = hostRefProblem(shadow, 'shadowReplaced');
    if (problem !== undefined) return ignored(problem);
    state.shadow = shadow;
    if (state.phase === 'unprotected') setPhase('steady');
    else publish();
    wake = true; // protected again: the primary is enrolled with the watchers (and the observer) at once
    remember({
      kind: 'config-sync',
      at: state.providerTime ?? 0,
      outcome: 'succeeded',
      detail: `new shadow ${shadow.hostId} in ${shadow.region}`,
    });
  });

  setHandler(
    failoverUpdate,
    (request) =>
      answerOnce(() => exclusively(() => failOverOrRefuse(`operator: ${request.reason}`, state.providerTime ?? 0))),
    {
      validator: (request: unknown) => {
        if (earlierAnswer()) return;
        const reason = (request as { reason?: unknown } | null | undefined)?.reason;
        if (typeof reason !== 'string' || reason.trim() === '') {
          throw new Error('failover needs a non-empty "reason" string');
        }
        if (!state.shadow) throw new Error(`pair ${state.pairId} has no shadow to fail over to (phase ${state.phase})`);
        if (state.phase === 'failing-over') throw new Error(`pair ${state.pairId} is already failing over`);
      },
    },
  );

  // A watcher's report: the validator refuses one that no longer holds (another primary, a stale look, nothing to
  // fail over to) without a trace in the history; an accepted one is checked again once the action lock is held.
  setHandler(
    primaryFailedUpdate,
    (report) =>
      answerOnce(() =>
        exclusively(async () => {
          const problem = failureReportProblem(report);
          if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, FailureType.PreCheckFailed);
          const lastCheckAt = Math.max(state.providerTime ?? 0, ...report.failedChecksAt);
          state.providerTime = lastCheckAt;
          state.health.lastFailureReport = report;
          return failOverOrRefuse(
            `automatic: ${report.failedChecksAt.length} consecutive failed health checks (${report.status})`,
            lastCheckAt,
          );
        }),
      ),
    {
      validator: (report: unknown) => {
        if (earlierAnswer()) return;
        const problem = failureReportProblem(report);
        if (problem !== undefined) throw new Error(problem);
        if (Date.now() - (report as PrimaryFailureReport).reportedAt > MAX_FAILURE_REPORT_AGE_MS)
          throw new Error(`the failure report is older than ${MAX_FAILURE_REPORT_AGE_MS / 1000} s`);
      },
    },
  );

  // The shard observer's order: the validator refuses one that no longer holds (another primary, an action running,
  // paused) without a trace in the history, and the observer decides again at the pair's next turn.
  setHandler(actUpdate, (order) => answerOnce(() => exclusively(() => act(order))), {
    validator: (order: unknown) => {
      if (earlierAnswer()) return;
      const problem = scalingOrderProblem(order) ?? orderProblem(order as ScalingOrder);
      if (problem !== undefined) throw new Error(problem);
      // Checked here, not again under the lock the handler takes: an order waits for no other action.
      if (acting) throw new Error(`pair ${state.pairId} is already acting`);
    },
  });

  setHandler(swapNowUpdate, (request) => answerOnce(() => exclusively(() => swap(`requested: ${request.reason}`))), {
    validator: (request: unknown) => {
      if (earlierAnswer()) return;
      const reason = (request as { reason?: unknown } | null | undefined)?.reason;
      if (typeof reason !== 'string' || reason.trim() === '') throw new Error('swapNow needs a non-empty "reason"');
      if (!state.shadow) throw new Error(`pair ${state.pairId} has no shadow to swap with (phase ${state.phase})`);
      if (state.paused) throw new Error(`pair ${state.pairId} is paused`);
      if (state.phase !== 'steady') throw new Error(`pair ${state.pairId} is ${state.phase}, not steady`);
    },
  });

  setHandler(
    setPolicyUpdate,
    (patch) => {
      const previous = JSON.stringify(state.policy.offPeak);
      state.policy = policySchema.parse({ ...state.policy, ...patch });
      if (JSON.stringify(state.policy.offPeak) !== previous) pending.swapScheduleOutdated = true;
      wake = true; // a changed health interval or failure count re-enrols the primary
      return state.policy;
    },
    {
      validator: (patch) => {
        if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
          throw new Error('setPolicy takes an object of policy fields');
        const parsed = policySchema.safeParse({ ...state.policy, ...patch });
        if (!parsed.success) {
          throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`).join('; '));
        }
      },
    },
  );

  // ---- actions ----------------------------------------------------------------------------------------------------
  // Two actions of one kind between two orders (a rollout's swap right after another) need distinct ids: the child's
  // activities derive their idempotency keys from it.
  const usedChildIds: string[] = [];
  const childId = (kind: string): string => {
    const base = `${info.workflowId}:${kind}:${state.counters.runs}.${state.counters.orders}`;
    const repeats = usedChildIds.filter((id) => id === base).length;
    usedChildIds.push(base);
    return repeats > 0 ? `${base}.${repeats + 1}` : base;
  };

  /** Why a failure report does not (or no longer) hold for this pair, or undefined. */
  function failureReportProblem(report: unknown): string | undefined {
    const r = report as Partial<PrimaryFailureReport> | null | undefined;
    if (typeof r?.primaryHostId !== 'string' || !Array.isArray(r.failedChecksAt) || typeof r.reportedAt !== 'number')
      return 'primaryFailed needs primaryHostId, failedChecksAt and reportedAt';
    if (r.primaryHostId !== state.primary.hostId)
      return `${r.primaryHostId} is not the primary of pair ${state.pairId} (${state.primary.hostId} is)`;
    if (r.generation !== roleGeneration())
      return `the report is for role generation ${String(r.generation)}, the pair is at ${roleGeneration()}`;
    if (r.failedChecksAt.length < state.policy.failuresBeforeFailover)
      return `${r.failedChecksAt.length} failed checks, the policy needs ${state.policy.failuresBeforeFailover}`;
    if (!state.failoverEnabled) return `automatic failover of pair ${state.pairId} is held by the operator`;
    if (!state.shadow) return `pair ${state.pairId} has no shadow to fail over to (phase ${state.phase})`;
    if (state.phase === 'failing-over') return `pair ${state.pairId} is already failing over`;
    return undefined;
  }

  /** Why an observer's order does not (or no longer) hold for this pair, or undefined. */
  function orderProblem(order: ScalingOrder): string | undefined {
    if (order.primaryHostId !== state.primary.hostId)
      return `${order.primaryHostId} is not the primary of pair ${state.pairId} (${state.primary.hostId} is)`;
    if (order.generation !== roleGeneration())
      return `the order is for role generation ${order.generation}, the pair is at ${roleGeneration()}`;
    if (state.phase !== 'steady' && state.phase !== 'scaled-out')
      return `pair ${state.pairId} is ${state.phase}, not steady or scaled-out`;
    if (state.paused) return `pair ${state.pairId} is paused`;
    return undefined;
  }

  /** Takes an observer's order: the evidence goes into the state, and the action runs (or is recorded only). */
  async function act(order: ScalingOrder): Promise<ActResult> {
    const problem = orderProblem(order);
    if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, FailureType.PreCheckFailed);
    state.providerTime = Math.max(state.providerTime ?? 0, order.at);
    state.lastForecast = order.forecast;
    state.mirror = order.mirror;
    state.scaling = order.memory;
    state.counters.orders += 1;
    state.lastDecision = {
      action: order.action.kind,
      reason: order.reason,
      executed: order.execute,
      at: order.at,
      ...(order.actualPercent !== undefined ? { actualPercent: order.actualPercent } : {}),
    };
    // Either way the pair wakes when done: the observer hears of the new memory (and of what moved).
    if (!order.execute) {
      remember({ kind: 'scale-out', at: order.at, outcome: 'recorded-only', detail: `forecast-only: ${order.reason}` });
      wake = true;
      return { outcome: 'recorded-only', phase: state.phase };
    }
    // The action's summary (the child's in the Web UI, the pair's recent actions) names the model behind it.
    const model = order.forecast.model;
    const byModel = model ? ` [forecast: ${model.modelType}${model.version ? ` v${model.version}` : ''}]` : '';
    const succeeded = await scale(order.action, `${order.reason}${byModel}`, order.at, order.actualPercent);
    wake = true;
    return { outcome: succeeded ? 'succeeded' : 'failed', phase: state.phase };
  }

  /** An update's failover: a failed one fails the update, so its caller learns it. */
  async function failOverOrRefuse(reason: string, at: number): Promise<FailoverResult> {
    const result = await failOver(reason, at);
    if (!result)
      throw ApplicationFailure.nonRetryable(`pair ${state.pairId} could not fail over`, FailureType.PreCheckFailed);
    return result;
  }

  async function failOver(reason: string, at: number): Promise<FailoverResult | undefined> {
    const shadow = state.shadow;
    if (!shadow) return undefined;
    const failedPrimary = state.primary;
    setPhase('failing-over');
    const workflowId = childId('failover');
    try {
      const result = await executeChild(failoverWorkflow, {
        workflowId,
        args: [
          {
            pairId: state.pairId,
            primary: failedPrimary,
            shadow,
            reason,
            standbyFraction: state.policy.shadowFraction,
          },
        ],
        staticSummary: `fail over ${failedPrimary.hostId} → ${shadow.hostId}: ${reason}`,
      });
      state.primary = shadow;
      state.shadow = undefined;
      state.movedToShadow = [];
      state.counters.failovers += 1;
      wake = true; // the new primary is enrolled with the watchers at the next iteration
      state.rolesSince = at;
      remember({
        kind: 'failover',
        at,
        outcome: 'succeeded',
        workflowId,
        detail: `${reason}: fenced ${result.fencedHost}, ${shadow.hostId} is primary, restored ${result.workloadsRestored.length} workloads, lost ${result.lostVersions} versions`,
      });
      setPhase('unprotected');
      if (input.fleetWorkflowId) {
        await getExternalWorkflowHandle(input.fleetWorkflowId).signal(shadowConsumedSignal, {
          pairId: state.pairId,
          newPrimary: shadow,
        });
      }
      return result;
    } catch (error) {
      remember({
        kind: 'failover',
        at,
        outcome: 'failed',
        workflowId,
        detail: `${reason}: ${(error as Error).message}`,
      });
      setPhase(state.shadow ? 'steady' : 'unprotected');
      return undefined;
    }
  }

  async function swap(reason: string): Promise<SwapNowResult> {
    const shadow = state.shadow;
    if (!shadow || state.phase !== 'steady') {
      remember({
        kind: 'swap',
        at: state.providerTime ?? 0,
        outcome: 'failed',
        detail: `${reason}: skipped, phase ${state.phase}`,
      });
      return { swapped: false, rolledBack: false, reason: `skipped, phase ${state.phase}` };
    }
    setPhase('swapping');
    const workflowId = childId('swap');
    let at = state.providerTime ?? 0;
    const result = await executeChild(swapWorkflow, {
      workflowId,
      args: [
        {
          pairId: state.pairId,
          primary: state.primary,
          shadow,
          shadowFraction: state.policy.shadowFraction,
          maxReplicationLagSeconds: MAX_SWAP_REPLICATION_LAG_SECONDS,
          reason,
        },
      ],
      staticSummary: `swap roles of ${state.primary.hostId} and ${shadow.hostId} (${reason})`,
    }).catch((error: unknown) => ({ swapped: false as const, rolledBack: false, reason: (error as Error).message }));
    if (result.swapped) {
      at = Math.max(at, result.checkedAt);
      state.providerTime = at;
      state.primary = result.primary;
      state.shadow = result.shadow;
      state.counters.swaps += 1;
      wake = true; // the new primary is enrolled with the watchers at the next iteration
      state.rolesSince = at;
      remember({
        kind: 'swap',
        at,
        outcome: 'succeeded',
        workflowId,
        detail: `${reason}: ${result.primary.hostId} is primary, moved ${result.moved.length} workloads`,
      });
    } else {
      remember({
        kind: 'swap',
        at,
        outcome: result.rolledBack ? 'rolled-back' : 'failed',
        workflowId,
        detail: `${reason}: ${result.reason}`,
      });
    }
    setPhase('steady');
    return result.swapped
      ? { swapped: true, primary: result.primary, shadow: result.shadow }
      : { swapped: false, rolledBack: result.rolledBack, reason: result.reason };
  }

  async function scale(action: ScalingAction, reason: string, at: number, actualPercent?: number): Promise<boolean> {
    if (action.kind === 'none') return false;
    if (action.kind === 'scale-back') {
      const shadow = state.shadow;
      if (!shadow) return false;
      setPhase('scaling-back');
      const workflowId = childId('scale-back');
      let succeeded = false;
      try {
        await executeChild(scaleBackWorkflow, {
          workflowId,
          args: [
            {
              pairId: state.pairId,
              primary: state.primary,
              shadow,
              workloadIds: action.workloadIds,
              allocationFraction: action.allocationFraction,
            },
          ],
          staticSummary: `scale back: move ${action.workloadIds.join(', ')} home to ${state.primary.hostId}`,
        });
        state.movedToShadow = state.movedToShadow.filter((id) => !action.workloadIds.includes(id));
        state.counters.scaleBacks += 1;
        remember({ kind: 'scale-back', at, outcome: 'succeeded', workflowId, detail: reason, actualPercent });
        succeeded = true;
      } catch (error) {
        remember({
          kind: 'scale-back',
          at,
          outcome: 'failed',
          workflowId,
          detail: `${reason}: ${(error as Error).message}`,
        });
      }
      setPhase(state.movedToShadow.length > 0 ? 'scaled-out' : 'steady');
      return succeeded;
    }
    setPhase('scaling-out');
    const kind =
      action.kind === 'scale-up-shadow'
        ? 'scale-up'
        : action.kind === 'provision-primary'
          ? 'provision-primary'
          : 'scale-out';
    const workflowId = childId(kind);
    let succeeded = false;
    try {
      const result = await executeChild(scaleOutWorkflow, {
        workflowId,
        args: [{ pairId: state.pairId, primary: state.primary, shadow: state.shadow, action }],
        staticSummary: reason,
      });
      if (result.targetHostId === state.shadow?.hostId) state.movedToShadow.push(...result.moved);
      state.counters.scaleOuts += 1;
      remember({ kind, at, outcome: 'succeeded', workflowId, detail: reason, actualPercent });
      succeeded = true;
    } catch (error) {
      remember({ kind, at, outcome: 'failed', workflowId, detail: `${reason}: ${(error as Error).message}` });
    }
    setPhase(state.movedToShadow.length > 0 ? 'scaled-out' : 'steady');
    return succeeded;
  }

  // ---- the loop -------------------------------------------------------------------------------------------------------
  // The failover and swap counts together: a report is for one holder of the primary role, not for the host forever.
  function roleGeneration(): number {
    return state.counters.failovers + state.counters.swaps;
  }
  // What the watchers should check: nothing while there is no shadow to fail over to or failover is held.
  function wantedWatch(): WatchedPrimary | undefined {
    if (!state.shadow || !state.failoverEnabled) return undefined;
    return {
      pairId: state.pairId,
      primaryHostId: state.primary.hostId,
      generation: roleGeneration(),
      intervalSeconds: state.policy.healthCheckIntervalSeconds,
      failuresBeforeFailover: state.policy.failuresBeforeFailover,
    };
  }
  // Enrols the pair with its watchers whenever what they should check changed (and on the pair's first run).
  async function reconcileWatch(): Promise<void> {
    const wanted = wantedWatch();
    const enrolled = state.health.watchers !== undefined && state.health.watchError === undefined;
    if (enrolled && JSON.stringify(wanted) === JSON.stringify(state.health.watch)) return;
    try {
      const summary = wanted
        ? `watch primary ${wanted.primaryHostId} every ${wanted.intervalSeconds} s`
        : `stop watching ${state.primary.hostId}`;
      state.health.watchers = await watchers.enrolPrimary.executeWithOptions({ ...QUICK_LOCAL_CALL, summary }, [
        { taskQueue: info.taskQueue, pairId: state.pairId, ...(wanted ? { member: wanted } : {}) },
      ]);
      state.health.watch = wanted;
      state.health.watchError = undefined;
    } catch (error) {
      state.health.watchError = messageOf(error);
      log.warn('could not enrol with the health watchers; trying again next iteration', {
        pairId: state.pairId,
        error: state.health.watchError,
      });
    }
  }

  // What the observer should decide with: the pair's hosts, policy, moves, phase and memory.
  function wantedObservation(): ObservedPair {
    return {
      pairId: state.pairId,
      primary: state.primary,
      ...(state.shadow ? { shadowHostId: state.shadow.hostId } : {}),
      policy: state.policy,
      movedToShadow: [...state.movedToShadow],
      ...(state.rolesSince !== undefined ? { rolesSince: state.rolesSince } : {}),
      generation: roleGeneration(),
      paused: state.paused,
      phase: state.phase,
      scaling: state.scaling,
    };
  }
  // Enrols the pair with its observer whenever what it decides with changed (and on the pair's first run).
  async function reconcileObservation(): Promise<void> {
    const wanted = wantedObservation();
    const observation = (state.observation ??= {});
    const enrolled = observation.observer !== undefined && observation.error === undefined;
    if (enrolled && JSON.stringify(wanted) === JSON.stringify(observation.member)) return;
    try {
      observation.observer = await observers.enrolObserved.executeWithOptions(
        { ...QUICK_LOCAL_CALL, summary: `observe ${wanted.primary.hostId}: decide on every new data step` },
        [{ taskQueue: info.taskQueue, pairId: state.pairId, member: wanted }],
      );
      observation.member = wanted;
      observation.error = undefined;
    } catch (error) {
      observation.error = messageOf(error);
      log.warn('could not enrol with the observer; trying again next iteration', {
        pairId: state.pairId,
        error: observation.error,
      });
    }
  }

  for (let iteration = 0; ; iteration++) {
    // Cleared before the iteration's work, so whatever wakes the pair during it (a swap that changed the primary, an
    // order taken) brings the next iteration at once.
    wake = false;
    if (pending.swapScheduleOutdated) {
      pending.swapScheduleOutdated = undefined;
      state.swapSchedule = await record.ensureSwapSchedule
        .executeWithOptions({ ...QUICK_LOCAL_CALL, summary: `off-peak swap schedule of ${state.pairId}` }, [
          {
            pairId: state.pairId,
            primaryHostId: state.primary.hostId,
            offPeak: state.policy.offPeak,
            scheduleId: swapScheduleId(state.pairId),
            workflowType: 'offPeakSwapWorkflow',
            taskQueue: info.taskQueue,
          },
        ])
        .catch((error: unknown) => ({
          error: messageOf(error),
        }));
    }

    await reconcileWatch();
    await reconcileObservation();

    if (pending.swapRequest !== undefined && !state.paused) {
      const reason = pending.swapRequest;
      pending.swapRequest = undefined;
      await exclusively(() => swap(reason));
    } else if (pending.swapRequest !== undefined && state.paused) {
      remember({
        kind: 'swap',
        at: state.providerTime ?? 0,
        outcome: 'failed',
        detail: `${pending.swapRequest}: skipped, the pair is paused`,
      });
      pending.swapRequest = undefined;
    }

    if (
      workflowInfo().continueAsNewSuggested ||
      iteration + 1 >= (input.iterationsPerRun ?? DEFAULT_ITERATIONS_PER_RUN)
    )
      break;
    // Asleep until a message, an order or a finished action wakes it; a whole quiet day ends the run.
    if (!(await condition(() => wake, IDLE_WAKE, { summary: `${state.pairId} waits for its next message` }))) break;
  }

  await condition(allHandlersFinished);
  return continueAsNew<typeof hostPairWorkflow>({
    ...input,
    primary: state.primary,
    shadow: state.shadow,
    policy: state.policy,
    state,
  });
}
