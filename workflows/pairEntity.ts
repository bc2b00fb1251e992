/**
 * The pair entity behind hostPairWorkflow (workflows/hostPair.ts): one object that owns everything a run of the pair
 * knows. Its `state` is the plain-data PairState (the `state` query's answer, carried whole across continue-as-new,
 * pending requests and answered updates included); beside it lives only what a run rebuilds: the one-action lock,
 * the wake flag and the child ids used in this run. Every handler and the loop work through its methods.
 *
 * Handlers and the loop interleave at every await: a method adds no await of its own, so the commands of one
 * activation keep their order and the recorded histories replay (test/fixtures/histories).
 */
import {
  ApplicationFailure,
  condition,
  currentUpdateInfo,
  executeChild,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { HealthWatchActivities } from '../activities/healthWatch.js';
import type { OrchestrationActivities } from '../activities/orchestration.js';
import type { PairObserverActivities } from '../activities/pairObserver.js';
import { policyProblems } from '../src/policy/policyCheck.js';
import type { ScalingAction } from '../src/policy/types.js';
import { FailureType, messageOf } from '../src/shared/failures.js';
import {
  MAX_FAILURE_REPORT_AGE_MS,
  type PrimaryFailureReport,
  type WatchedPrimary,
} from '../src/shared/healthWatch.js';
import {
  type ActResult,
  type ObservedPair,
  type ScalingOrder,
  scalingOrderProblem,
} from '../src/shared/observation.js';
import {
  type ActionRecord,
  type FailoverRequest,
  type FailoverResult,
  type ForceSwapRequest,
  type HostPairInput,
  type HostRef,
  type PairPhase,
  type PairPolicy,
  type PairState,
  type PauseRequest,
  type SwapNowRequest,
  type SwapNowResult,
  forceSwapRequestProblem,
  hostRefProblem,
  pauseRequestProblem,
  shadowConsumedSignal,
  swapScheduleId,
} from '../src/shared/pair.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import { failoverWorkflow, scaleBackWorkflow, scaleOutWorkflow, swapWorkflow } from './actions.js';
import { QUICK_LOCAL_CALL, WORKFLOW_TASK_TIMEOUT } from './profiles.js';

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

export class PairEntity {
  /** What the `state` query answers and continue-as-new carries. */
  readonly state: PairState;
  /** Requests not yet acted on; an object inside `state`, so a request taken late in a run reaches the next. */
  private readonly pending: NonNullable<PairState['pending']>;
  /** Update ids answered lately, inside `state` too: the server de-duplicates ids only within one run. */
  private readonly answered: NonNullable<PairState['answeredUpdates']>;
  private readonly info = workflowInfo();
  /** One action at a time: the loop and the update handlers share this lock. */
  private acting = false;
  /** Set by whatever should bring the next loop iteration at once. */
  private wake = false;
  /** Child ids taken in this run: a repeat within one order gets a suffix (see childId). */
  private readonly usedChildIds: string[] = [];

  constructor(private readonly input: HostPairInput) {
    this.state = input.state ?? initialState(input);
    this.state.counters.runs += 1;
    this.pending = this.state.pending ??= {};
    this.answered = this.state.answeredUpdates ??= [];
    // The schedule is (re)applied on a pair's first run and whenever the operator changes its off-peak spec.
    if (this.state.swapSchedule === undefined) this.pending.swapScheduleOutdated = true;
  }

  /** What the next run starts from: the same input, with the hosts and policy as they are now. */
  continuation(): HostPairInput {
    const state = this.state;
    return { ...this.input, primary: state.primary, shadow: state.shadow, policy: state.policy, state };
  }

  // ---- search attributes: what the Web UI filters the fleet by ----------------------------------------------------

  publish(): void {
    const state = this.state;
    upsertSearchAttributes([
      { key: SearchAttributeKeys.PairId, value: state.pairId },
      { key: SearchAttributeKeys.PrimaryHost, value: state.primary.hostId },
      { key: SearchAttributeKeys.PrimaryRegion, value: state.primary.region },
      { key: SearchAttributeKeys.ShadowHost, value: state.shadow?.hostId ?? null },
      { key: SearchAttributeKeys.ShadowRegion, value: state.shadow?.region ?? null },
      { key: SearchAttributeKeys.PairPhase, value: state.phase },
      { key: SearchAttributeKeys.Paused, value: state.paused },
    ]);
  }

  private setPhase(phase: PairPhase): void {
    this.state.phase = phase;
    this.publish();
  }

  private remember(action: ActionRecord): void {
    this.state.lastAction = action;
    this.state.recentActions.push(action);
    if (this.state.recentActions.length > RECENT_ACTIONS_KEPT) this.state.recentActions.shift();
  }

  // ---- the lock, and answers kept across runs ------------------------------------------------------------------------

  private async exclusively<T>(work: () => Promise<T>): Promise<T> {
    await condition(() => !this.acting);
    this.acting = true;
    try {
      return await work();
    } finally {
      this.acting = false;
    }
  }

  // A caller that retries an update (a rollout's swap, say) after the pair continued as new gets the first answer
  // again instead of a second action.
  private earlierAnswer(): { result: unknown } | undefined {
    const id = currentUpdateInfo()?.id;
    return id === undefined ? undefined : this.answered.find((a) => a.id === id);
  }

  private async answerOnce<T>(work: () => Promise<T>): Promise<T> {
    const earlier = this.earlierAnswer();
    if (earlier) return earlier.result as T;
    const id = currentUpdateInfo()?.id;
    const result = await work();
    if (id !== undefined) {
      this.answered.push({ id, result });
      if (this.answered.length > ANSWERED_UPDATES_KEPT) this.answered.shift();
    }
    return result;
  }

  // ---- signals: they cannot be refused, so a malformed payload is dropped with a warning and nothing changes -------

  private ignore(problem: string): void {
    log.warn(`pair ${this.state.pairId}: signal ignored: ${problem}`);
  }

  pause(request: PauseRequest | undefined): void {
    const problem = pauseRequestProblem(request);
    if (problem !== undefined) return this.ignore(problem);
    this.state.paused = true;
    if (request?.disableFailover) this.state.failoverEnabled = false;
    this.publish();
    this.wake = true; // a held failover leaves the watchers
  }

  resume(): void {
    this.state.paused = false;
    this.state.failoverEnabled = true;
    this.publish();
    this.wake = true;
  }

  forceSwap(request: ForceSwapRequest | undefined): void {
    const problem = forceSwapRequestProblem(request);
    if (problem !== undefined) return this.ignore(problem);
    this.pending.swapRequest = `operator: ${request?.reason ?? 'forceSwap signal'}`;
    this.wake = true;
  }

  offPeakSwap(): void {
    this.pending.swapRequest = 'off-peak schedule';
    this.wake = true;
  }

  shadowReplaced(shadow: HostRef): void {
    const problem = hostRefProblem(shadow, 'shadowReplaced');
    if (problem !== undefined) return this.ignore(problem);
    this.state.shadow = shadow;
    if (this.state.phase === 'unprotected') this.setPhase('steady');
    else this.publish();
    this.wake = true; // protected again: the primary is enrolled with the watchers (and the observer) at once
    this.remember({
      kind: 'config-sync',
      at: this.state.providerTime ?? 0,
      outcome: 'succeeded',
      detail: `new shadow ${shadow.hostId} in ${shadow.region}`,
    });
  }

  // ---- updates: each validator refuses without a trace in the history; a repeated id is always let through ---------

  failover(request: FailoverRequest): Promise<FailoverResult> {
    return this.answerOnce(() =>
      this.exclusively(() => this.failOverOrRefuse(`operator: ${request.reason}`, this.state.providerTime ?? 0)),
    );
  }

  validateFailover(request: unknown): void {
    if (this.earlierAnswer()) return;
    const state = this.state;
    const reason = (request as { reason?: unknown } | null | undefined)?.reason;
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new Error('failover needs a non-empty "reason" string');
    }
    if (!state.shadow) throw new Error(`pair ${state.pairId} has no shadow to fail over to (phase ${state.phase})`);
    if (state.phase === 'failing-over') throw new Error(`pair ${state.pairId} is already failing over`);
  }

  /** A watcher's report, checked again once the action lock is held. */
  primaryFailed(report: PrimaryFailureReport): Promise<FailoverResult> {
    return this.answerOnce(() => this.exclusively(() => this.failOverOnReport(report)));
  }

  // Refuses a report that no longer holds: another primary, a stale look, nothing to fail over to.
  validatePrimaryFailed(report: unknown): void {
    if (this.earlierAnswer()) return;
    const problem = this.failureReportProblem(report);
    if (problem !== undefined) throw new Error(problem);
    if (Date.now() - (report as PrimaryFailureReport).reportedAt > MAX_FAILURE_REPORT_AGE_MS)
      throw new Error(`the failure report is older than ${MAX_FAILURE_REPORT_AGE_MS / 1000} s`);
  }

  /** The shard observer's order. */
  act(order: ScalingOrder): Promise<ActResult> {
    return this.answerOnce(() => this.exclusively(() => this.takeOrder(order)));
  }

  // Refuses an order that no longer holds (another primary, an action running, paused); the observer decides again
  // at the pair's next turn.
  validateAct(order: unknown): void {
    if (this.earlierAnswer()) return;
    const problem = scalingOrderProblem(order) ?? this.orderProblem(order as ScalingOrder);
    if (problem !== undefined) throw new Error(problem);
    // Checked here, not again under the lock the handler takes: an order waits for no other action.
    if (this.acting) throw new Error(`pair ${this.state.pairId} is already acting`);
  }

  swapNow(request: SwapNowRequest): Promise<SwapNowResult> {
    return this.answerOnce(() => this.exclusively(() => this.swap(`requested: ${request.reason}`)));
  }

  validateSwapNow(request: unknown): void {
    if (this.earlierAnswer()) return;
    const state = this.state;
    const reason = (request as { reason?: unknown } | null | undefined)?.reason;
    if (typeof reason !== 'string' || reason.trim() === '') throw new Error('swapNow needs a non-empty "reason"');
    if (!state.shadow) throw new Error(`pair ${state.pairId} has no shadow to swap with (phase ${state.phase})`);
    if (state.paused) throw new Error(`pair ${state.pairId} is paused`);
    if (state.phase !== 'steady') throw new Error(`pair ${state.pairId} is ${state.phase}, not steady`);
  }

  setPolicy(patch: Partial<PairPolicy>): PairPolicy {
    const state = this.state;
    const previous = JSON.stringify(state.policy.offPeak);
    // Checked whole by validateSetPolicy before the update was accepted.
    state.policy = { ...state.policy, ...patch };
    if (JSON.stringify(state.policy.offPeak) !== previous) this.pending.swapScheduleOutdated = true;
    this.wake = true; // a changed health interval or failure count re-enrols the primary
    return state.policy;
  }

  validateSetPolicy(patch: unknown): void {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
      throw new Error('setPolicy takes an object of policy fields');
    const problems = policyProblems({ ...this.state.policy, ...patch });
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  // ---- actions ----------------------------------------------------------------------------------------------------

  // Two actions of one kind between two orders (a rollout's swap right after another) need distinct ids: the child's
  // activities derive their idempotency keys from it.
  private childId(kind: string): string {
    const base = `${this.info.workflowId}:${kind}:${this.state.counters.runs}.${this.state.counters.orders}`;
    const repeats = this.usedChildIds.filter((id) => id === base).length;
    this.usedChildIds.push(base);
    return repeats > 0 ? `${base}.${repeats + 1}` : base;
  }

  /** Why a failure report does not (or no longer) hold for this pair, or undefined. */
  private failureReportProblem(report: unknown): string | undefined {
    const state = this.state;
    const r = report as Partial<PrimaryFailureReport> | null | undefined;
    if (typeof r?.primaryHostId !== 'string' || !Array.isArray(r.failedChecksAt) || typeof r.reportedAt !== 'number')
      return 'primaryFailed needs primaryHostId, failedChecksAt and reportedAt';
    if (r.primaryHostId !== state.primary.hostId)
      return `${r.primaryHostId} is not the primary of pair ${state.pairId} (${state.primary.hostId} is)`;
    if (r.generation !== this.roleGeneration())
      return `the report is for role generation ${String(r.generation)}, the pair is at ${this.roleGeneration()}`;
    if (r.failedChecksAt.length < state.policy.failuresBeforeFailover)
      return `${r.failedChecksAt.length} failed checks, the policy needs ${state.policy.failuresBeforeFailover}`;
    if (!state.failoverEnabled) return `automatic failover of pair ${state.pairId} is held by the operator`;
    if (!state.shadow) return `pair ${state.pairId} has no shadow to fail over to (phase ${state.phase})`;
    if (state.phase === 'failing-over') return `pair ${state.pairId} is already failing over`;
    return undefined;
  }

  /** Why an observer's order does not (or no longer) hold for this pair, or undefined. */
  private orderProblem(order: ScalingOrder): string | undefined {
    const state = this.state;
    if (order.primaryHostId !== state.primary.hostId)
      return `${order.primaryHostId} is not the primary of pair ${state.pairId} (${state.primary.hostId} is)`;
    if (order.generation !== this.roleGeneration())
      return `the order is for role generation ${order.generation}, the pair is at ${this.roleGeneration()}`;
    if (state.phase !== 'steady' && state.phase !== 'scaled-out')
      return `pair ${state.pairId} is ${state.phase}, not steady or scaled-out`;
    if (state.paused) return `pair ${state.pairId} is paused`;
    return undefined;
  }

  /** A report accepted by its validator, under the lock: it must still hold before the pair fails over. */
  private async failOverOnReport(report: PrimaryFailureReport): Promise<FailoverResult> {
    const problem = this.failureReportProblem(report);
    if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, FailureType.PreCheckFailed);
    const lastCheckAt = Math.max(this.state.providerTime ?? 0, ...report.failedChecksAt);
    this.state.providerTime = lastCheckAt;
    this.state.health.lastFailureReport = report;
    return this.failOverOrRefuse(
      `automatic: ${report.failedChecksAt.length} consecutive failed health checks (${report.status})`,
      lastCheckAt,
    );
  }

  /** Takes an observer's order: the evidence goes into the state, and the action runs (or is recorded only). */
  private async takeOrder(order: ScalingOrder): Promise<ActResult> {
    const state = this.state;
    const problem = this.orderProblem(order);
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
      this.remember({
        kind: 'scale-out',
        at: order.at,
        outcome: 'recorded-only',
        detail: `forecast-only: ${order.reason}`,
      });
      this.wake = true;
      return { outcome: 'recorded-only', phase: state.phase };
    }
    // The action's summary (the child's in the Web UI, the pair's recent actions) names the model behind it.
    const model = order.forecast.model;
    const byModel = model ? ` [forecast: ${model.modelType}${model.version ? ` v${model.version}` : ''}]` : '';
    const succeeded = await this.scale(order.action, `${order.reason}${byModel}`, order.at, order.actualPercent);
    this.wake = true;
    return { outcome: succeeded ? 'succeeded' : 'failed', phase: state.phase };
  }

  /** An update's failover: a failed one fails the update, so its caller learns it. */
  private async failOverOrRefuse(reason: string, at: number): Promise<FailoverResult> {
    const result = await this.failOver(reason, at);
    if (!result)
      throw ApplicationFailure.nonRetryable(
        `pair ${this.state.pairId} could not fail over`,
        FailureType.PreCheckFailed,
      );
    return result;
  }

  private async failOver(reason: string, at: number): Promise<FailoverResult | undefined> {
    const state = this.state;
    const shadow = state.shadow;
    if (!shadow) return undefined;
    const failedPrimary = state.primary;
    this.setPhase('failing-over');
    const workflowId = this.childId('failover');
    try {
      const result = await executeChild(failoverWorkflow, {
        workflowId,
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
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
      this.wake = true; // the new primary is enrolled with the watchers at the next iteration
      state.rolesSince = at;
      this.remember({
        kind: 'failover',
        at,
        outcome: 'succeeded',
        workflowId,
        detail: `${reason}: fenced ${result.fencedHost}, ${shadow.hostId} is primary, restored ${result.workloadsRestored.length} workloads, lost ${result.lostVersions} versions`,
      });
      this.setPhase('unprotected');
      if (this.input.fleetWorkflowId) {
        await getExternalWorkflowHandle(this.input.fleetWorkflowId).signal(shadowConsumedSignal, {
          pairId: state.pairId,
          newPrimary: shadow,
        });
      }
      return result;
    } catch (error) {
      this.remember({
        kind: 'failover',
        at,
        outcome: 'failed',
        workflowId,
        detail: `${reason}: ${(error as Error).message}`,
      });
      this.setPhase(state.shadow ? 'steady' : 'unprotected');
      return undefined;
    }
  }

  private async swap(reason: string): Promise<SwapNowResult> {
    const state = this.state;
    const shadow = state.shadow;
    if (!shadow || state.phase !== 'steady') {
      this.remember({
        kind: 'swap',
        at: state.providerTime ?? 0,
        outcome: 'failed',
        detail: `${reason}: skipped, phase ${state.phase}`,
      });
      return { swapped: false, rolledBack: false, reason: `skipped, phase ${state.phase}` };
    }
    this.setPhase('swapping');
    const workflowId = this.childId('swap');
    let at = state.providerTime ?? 0;
    const result = await executeChild(swapWorkflow, {
      workflowId,
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
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
      this.wake = true; // the new primary is enrolled with the watchers at the next iteration
      state.rolesSince = at;
      this.remember({
        kind: 'swap',
        at,
        outcome: 'succeeded',
        workflowId,
        detail: `${reason}: ${result.primary.hostId} is primary, moved ${result.moved.length} workloads`,
      });
    } else {
      this.remember({
        kind: 'swap',
        at,
        outcome: result.rolledBack ? 'rolled-back' : 'failed',
        workflowId,
        detail: `${reason}: ${result.reason}`,
      });
    }
    this.setPhase('steady');
    return result.swapped
      ? { swapped: true, primary: result.primary, shadow: result.shadow }
      : { swapped: false, rolledBack: result.rolledBack, reason: result.reason };
  }

  /** Runs an order's action; false when it failed or there was nothing to do. */
  private scale(action: ScalingAction, reason: string, at: number, actualPercent?: number): Promise<boolean> {
    if (action.kind === 'none') return Promise.resolve(false);
    if (action.kind === 'scale-back') return this.scaleBack(action, reason, at, actualPercent);
    return this.scaleOut(action, reason, at, actualPercent);
  }

  private async scaleBack(
    action: Extract<ScalingAction, { kind: 'scale-back' }>,
    reason: string,
    at: number,
    actualPercent?: number,
  ): Promise<boolean> {
    const state = this.state;
    const shadow = state.shadow;
    if (!shadow) return false;
    this.setPhase('scaling-back');
    const workflowId = this.childId('scale-back');
    let succeeded = false;
    try {
      await executeChild(scaleBackWorkflow, {
        workflowId,
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
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
      this.remember({ kind: 'scale-back', at, outcome: 'succeeded', workflowId, detail: reason, actualPercent });
      succeeded = true;
    } catch (error) {
      this.remember({
        kind: 'scale-back',
        at,
        outcome: 'failed',
        workflowId,
        detail: `${reason}: ${(error as Error).message}`,
      });
    }
    this.setPhase(state.movedToShadow.length > 0 ? 'scaled-out' : 'steady');
    return succeeded;
  }

  private async scaleOut(
    action: Exclude<ScalingAction, { kind: 'none' | 'scale-back' }>,
    reason: string,
    at: number,
    actualPercent?: number,
  ): Promise<boolean> {
    const state = this.state;
    this.setPhase('scaling-out');
    const kind =
      action.kind === 'scale-up-shadow'
        ? 'scale-up'
        : action.kind === 'provision-primary'
          ? 'provision-primary'
          : 'scale-out';
    const workflowId = this.childId(kind);
    let succeeded = false;
    try {
      const result = await executeChild(scaleOutWorkflow, {
        workflowId,
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
        args: [{ pairId: state.pairId, primary: state.primary, shadow: state.shadow, action }],
        staticSummary: reason,
      });
      if (result.targetHostId === state.shadow?.hostId) state.movedToShadow.push(...result.moved);
      state.counters.scaleOuts += 1;
      this.remember({ kind, at, outcome: 'succeeded', workflowId, detail: reason, actualPercent });
      succeeded = true;
    } catch (error) {
      this.remember({ kind, at, outcome: 'failed', workflowId, detail: `${reason}: ${(error as Error).message}` });
    }
    this.setPhase(state.movedToShadow.length > 0 ? 'scaled-out' : 'steady');
    return succeeded;
  }

  // ---- the loop -------------------------------------------------------------------------------------------------------

  // The failover and swap counts together: a report is for one holder of the primary role, not for the host forever.
  private roleGeneration(): number {
    return this.state.counters.failovers + this.state.counters.swaps;
  }

  // What the watchers should check: nothing while there is no shadow to fail over to or failover is held.
  private wantedWatch(): WatchedPrimary | undefined {
    const state = this.state;
    if (!state.shadow || !state.failoverEnabled) return undefined;
    return {
      pairId: state.pairId,
      primaryHostId: state.primary.hostId,
      generation: this.roleGeneration(),
      intervalSeconds: state.policy.healthCheckIntervalSeconds,
      failuresBeforeFailover: state.policy.failuresBeforeFailover,
    };
  }

  // Enrols the pair with its watchers whenever what they should check changed (and on the pair's first run).
  private async reconcileWatch(): Promise<void> {
    const state = this.state;
    const wanted = this.wantedWatch();
    const enrolled = state.health.watchers !== undefined && state.health.watchError === undefined;
    if (enrolled && JSON.stringify(wanted) === JSON.stringify(state.health.watch)) return;
    try {
      const summary = wanted
        ? `watch primary ${wanted.primaryHostId} every ${wanted.intervalSeconds} s`
        : `stop watching ${state.primary.hostId}`;
      state.health.watchers = await watchers.enrolPrimary.executeWithOptions({ ...QUICK_LOCAL_CALL, summary }, [
        { taskQueue: this.info.taskQueue, pairId: state.pairId, ...(wanted ? { member: wanted } : {}) },
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
  private wantedObservation(): ObservedPair {
    const state = this.state;
    return {
      pairId: state.pairId,
      primary: state.primary,
      ...(state.shadow ? { shadowHostId: state.shadow.hostId } : {}),
      policy: state.policy,
      movedToShadow: [...state.movedToShadow],
      ...(state.rolesSince !== undefined ? { rolesSince: state.rolesSince } : {}),
      generation: this.roleGeneration(),
      paused: state.paused,
      phase: state.phase,
      scaling: state.scaling,
    };
  }

  // Enrols the pair with its observer whenever what it decides with changed (and on the pair's first run).
  private async reconcileObservation(): Promise<void> {
    const state = this.state;
    const wanted = this.wantedObservation();
    const observation = (state.observation ??= {});
    const enrolled = observation.observer !== undefined && observation.error === undefined;
    if (enrolled && JSON.stringify(wanted) === JSON.stringify(observation.member)) return;
    try {
      observation.observer = await observers.enrolObserved.executeWithOptions(
        { ...QUICK_LOCAL_CALL, summary: `observe ${wanted.primary.hostId}: decide on every new data step` },
        [{ taskQueue: this.info.taskQueue, pairId: state.pairId, member: wanted }],
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

  /** Applies the off-peak swap schedule as the policy has it now; the answer is the state's `swapSchedule`. */
  private applySwapSchedule(): Promise<NonNullable<PairState['swapSchedule']>> {
    const state = this.state;
    return record.ensureSwapSchedule
      .executeWithOptions({ ...QUICK_LOCAL_CALL, summary: `off-peak swap schedule of ${state.pairId}` }, [
        {
          pairId: state.pairId,
          primaryHostId: state.primary.hostId,
          offPeak: state.policy.offPeak,
          scheduleId: swapScheduleId(state.pairId),
          workflowType: 'offPeakSwapWorkflow',
          taskQueue: this.info.taskQueue,
        },
      ])
      .catch((error: unknown) => ({
        error: messageOf(error),
      }));
  }

  /** Iterations until the run is long enough, or quiet for a whole day; then the caller continues as new. */
  async run(): Promise<void> {
    let iteration = 0;
    while (await this.iterate(iteration)) iteration += 1;
  }

  /** One wake's work, then sleep until the next; false when the run should end. */
  private async iterate(iteration: number): Promise<boolean> {
    const state = this.state;
    const pending = this.pending;
    // Cleared before the iteration's work, so whatever wakes the pair during it (a swap that changed the primary, an
    // order taken) brings the next iteration at once.
    this.wake = false;
    if (pending.swapScheduleOutdated) {
      pending.swapScheduleOutdated = undefined;
      state.swapSchedule = await this.applySwapSchedule();
    }

    await this.reconcileWatch();
    await this.reconcileObservation();

    if (pending.swapRequest !== undefined && !state.paused) {
      const reason = pending.swapRequest;
      pending.swapRequest = undefined;
      await this.exclusively(() => this.swap(reason));
    } else if (pending.swapRequest !== undefined && state.paused) {
      this.remember({
        kind: 'swap',
        at: state.providerTime ?? 0,
        outcome: 'failed',
        detail: `${pending.swapRequest}: skipped, the pair is paused`,
      });
      pending.swapRequest = undefined;
    }

    if (
      workflowInfo().continueAsNewSuggested ||
      iteration + 1 >= (this.input.iterationsPerRun ?? DEFAULT_ITERATIONS_PER_RUN)
    )
      return false;
    // Asleep until a message, an order or a finished action wakes it; a whole quiet day ends the run.
    return condition(() => this.wake, IDLE_WAKE, { summary: `${state.pairId} waits for its next message` });
  }
}
