/**
 * The rollout entity behind rolloutWorkflow (workflows/rollout.ts): one object that owns the plain-data RolloutState
 * (the `rolloutState` query's answer) and the rest of the rollout's progress (the pairs as read, paused, waves done,
 * an abort), which is what continues as new. Its methods are the workflow's handlers, its validation, its waves and
 * each pair's turn.
 *
 * A wave rolls its pairs concurrently: a method adds no await of its own, so the commands of one activation keep
 * their order and the recorded histories replay.
 */
import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/rollout.js';
import {
  DEFAULT_ROLLOUT_WINDOW,
  maxOverlapping,
  pairsBreakingSpare,
  planWaves,
  validateBudget,
  validateConfiguration,
  validateWindows,
  windowStatus,
  type ConfigurationValue,
  type RolloutWindow,
  type SpareCapacity,
} from '../src/policy/rollout.js';
import { FailureType, messageOf } from '../src/shared/failures.js';
import {
  type PairRollout,
  type RolloutInput,
  type RolloutPhase,
  type RolloutState,
  type RolloutTarget,
  abortRolloutRequestProblem,
  pairsUnderRolloutSignal,
  rolloutPairRefs,
} from '../src/shared/rollout.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import { OBSERVATION, PROVIDER_ACTION } from './profiles.js';

const actions = proxyActivities<RolloutActivities>(PROVIDER_ACTION);
const reads = proxyActivities<RolloutActivities>(OBSERVATION);

const DEFAULT_WINDOW_POLL_SECONDS = 60;

type StepKey = (step: string) => string;

export class RolloutEntity {
  /** What the `rolloutState` query answers; continue-as-new carries it with the rest of the progress. */
  readonly state: RolloutState;
  /** The pairs as read when the rollout was validated. */
  private targets: RolloutTarget[];
  private paused: boolean;
  private aborted: string | undefined;
  private wavesDone: number;
  private readonly windows: RolloutWindow[];
  private readonly info = workflowInfo();

  constructor(private readonly input: RolloutInput) {
    const progress = input.progress;
    this.windows = input.windows ?? [DEFAULT_ROLLOUT_WINDOW];
    this.state = progress?.state ?? {
      rolloutId: input.rolloutId,
      phase: 'validating',
      desired: input.desired,
      waves: [],
      currentWave: 0,
      pairs: [],
      maxConcurrent: 0,
    };
    if (progress) this.state.runs = (this.state.runs ?? 1) + 1;
    this.paused = progress?.paused ?? false;
    this.targets = progress?.targets ?? [];
    this.wavesDone = progress?.wavesDone ?? 0;
    this.aborted = progress?.aborted;
  }

  /** What the next run starts from: the same input with the progress so far. */
  continuation(): RolloutInput {
    return {
      ...this.input,
      progress: {
        state: this.state,
        targets: this.targets,
        paused: this.paused,
        wavesDone: this.wavesDone,
        ...(this.aborted !== undefined ? { aborted: this.aborted } : {}),
      },
    };
  }

  publish(): void {
    upsertSearchAttributes([
      { key: SearchAttributeKeys.RolloutId, value: this.state.rolloutId },
      { key: SearchAttributeKeys.RolloutPhase, value: this.state.phase },
    ]);
  }

  private setPhase(phase: RolloutPhase): void {
    this.state.phase = phase;
    this.publish();
  }

  // ---- signals: pause, resume and abort act between waves -----------------------------------------------------------

  pause(): void {
    this.paused = true;
    if (this.state.phase === 'rolling' || this.state.phase === 'waiting-for-window') this.setPhase('paused');
  }

  resume(): void {
    this.paused = false;
    this.state.haltReason = undefined;
  }

  abort(request: { reason?: string } | undefined): void {
    // Signals cannot be refused: a malformed payload is dropped with a warning, and nothing changes.
    const problem = abortRolloutRequestProblem(request);
    if (problem !== undefined) return log.warn(`rollout ${this.state.rolloutId}: signal ignored: ${problem}`);
    this.aborted = request?.reason ?? 'operator abort';
  }

  // ---- refuse bad input before touching anything --------------------------------------------------------------------

  private async tellFleet(pairIds: string[]): Promise<void> {
    const input = this.input;
    if (!input.fleetWorkflowId) return;
    await getExternalWorkflowHandle(input.fleetWorkflowId)
      .signal(pairsUnderRolloutSignal, { rolloutId: input.rolloutId, pairIds, workflowId: this.info.workflowId })
      .catch(() => undefined); // a fleet that is gone has no drift correction to hold back
  }

  /** A first run's start: refuses bad input with every reason, or plans the waves and tells the fleet. */
  async validateAndPlan(): Promise<void> {
    const input = this.input;
    const problems = [...validateConfiguration(input.desired), ...validateWindows(this.windows, Date.now())];
    if (typeof input.rolloutId !== 'string' || input.rolloutId.trim() === '') problems.push('rolloutId is empty');
    let spare: SpareCapacity | undefined;
    if (problems.length === 0) {
      this.targets = await reads.readRolloutTargets
        .executeWithOptions({ ...OBSERVATION, summary: 'read the pairs to roll' }, [
          {
            pairIds: input.pairs?.map((p) => p.pairId),
            fleetWorkflowId: input.fleetWorkflowId,
            rolloutId: input.rolloutId,
          },
        ])
        .catch((error: unknown) => {
          // Unknown pairs, or another rollout holding the fleet: the activity's reason, as this rollout's refusal.
          throw ApplicationFailure.nonRetryable(`rollout refused: ${messageOf(error)}`, FailureType.InvalidInput);
        });
      const targets = this.targets;
      const seen = new Set<string>();
      for (const t of targets) {
        if (seen.has(t.pairId)) problems.push(`pair ${t.pairId} is listed twice`);
        seen.add(t.pairId);
        if (!t.shadow) problems.push(`pair ${t.pairId} has no shadow to swap onto`);
      }
      if (targets.length === 0) problems.push('no pairs to roll');
      problems.push(...validateBudget(input.budget, rolloutPairRefs(targets)));
      // The fleet's spare capacity, when it names it: no wave may leave a region without room for an outage.
      if (problems.length === 0 && input.fleetWorkflowId) {
        spare = await reads.readSpareCapacity.executeWithOptions(
          { ...OBSERVATION, summary: "read the regions' spare capacity" },
          [input.fleetWorkflowId],
        );
        if (spare) problems.push(...pairsBreakingSpare(rolloutPairRefs(targets), spare));
      }
    }
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(`rollout refused: ${problems.join('; ')}`, FailureType.InvalidInput);
    }

    const state = this.state;
    const targets = this.targets;
    state.waves = planWaves(rolloutPairRefs(targets), input.budget, spare);
    state.pairs = state.waves.flatMap((wave, index) =>
      wave.map((pairId): PairRollout => ({
        pairId,
        wave: index + 1,
        step: 'pending',
        primaryBefore: targets.find((t) => t.pairId === pairId)!.primary.hostId,
        shadowBefore: targets.find((t) => t.pairId === pairId)!.shadow?.hostId,
        verifiedHashes: {},
      })),
    );
    await this.tellFleet(state.pairs.map((p) => p.pairId));
  }

  // ---- waves ----------------------------------------------------------------------------------------------------------

  /** The waves left, until the rollout ends or its run is long enough to continue as new. */
  async run(): Promise<'finished' | 'continue-as-new'> {
    try {
      return await this.runWaves();
    } catch (error) {
      // Even a rollout that failed hands drift correction of its pairs back to the fleet.
      await this.tellFleet([]);
      throw error;
    }
  }

  /** A finished rollout: drift correction back to the fleet, untouched pairs marked, the outcome named. */
  async finish(): Promise<RolloutState> {
    const state = this.state;
    await this.tellFleet([]);
    for (const p of state.pairs) {
      if (p.step === 'pending') {
        p.step = 'skipped';
        p.detail = `rollout aborted: ${this.aborted ?? ''}`;
      }
    }
    this.setPhase(this.aborted !== undefined ? 'aborted' : 'completed');
    if (this.aborted !== undefined) state.haltReason = this.aborted;
    return state;
  }

  private async runWaves(): Promise<'finished' | 'continue-as-new'> {
    const state = this.state;
    const input = this.input;
    const firstWave = this.wavesDone;
    for (let index = firstWave; index < state.waves.length; index++, this.wavesDone = index) {
      const wavesThisRun = index - firstWave;
      const runIsLong =
        wavesThisRun > 0 &&
        (workflowInfo().continueAsNewSuggested ||
          (input.continueAsNewAfterWaves !== undefined && wavesThisRun >= input.continueAsNewAfterWaves));
      if (runIsLong) return 'continue-as-new';
      if (!(await this.gate())) break;
      state.currentWave = index + 1;
      this.setPhase('rolling');
      const wave = state.pairs.filter((p) => p.wave === index + 1);
      await Promise.all(
        wave.map((p) =>
          this.rollPair(
            p,
            this.targets.find((t) => t.pairId === p.pairId)!,
          ),
        ),
      );
      state.maxConcurrent = maxOverlap(state.pairs);

      // Health gate: every host the wave touched must answer healthy before the next wave starts.
      // (A pair rolled back has had its failure dealt with; its hosts are reported in its own state.)
      const hosts = wave
        .filter((p) => p.step === 'done')
        .flatMap((p) => [p.primaryBefore, p.shadowBefore ?? []].flat());
      const checks = await Promise.all(
        hosts.map((hostId) =>
          reads.readHostConfiguration
            .executeWithOptions({ ...OBSERVATION, summary: `health gate: ${hostId}` }, [hostId])
            .catch(() => undefined),
        ),
      );
      const unhealthy = hosts.filter((_, i) => !checks[i]?.healthy);
      // A pair skipped untouched is not a failure: it does not halt a rollout told to halt on one.
      const failedPairs = wave.filter((p) => p.step !== 'done' && p.step !== 'skipped');
      if (unhealthy.length > 0) {
        this.halt(`health gate after wave ${index + 1}: ${unhealthy.join(', ')} not healthy`);
      } else if (failedPairs.length > 0 && input.onPairFailure === 'halt') {
        this.halt(`wave ${index + 1}: ${failedPairs.map((p) => `${p.pairId} ${p.step}`).join(', ')}`);
      }
    }
    return 'finished';
  }

  private halt(reason: string): void {
    this.state.haltReason = reason;
    this.paused = true;
    this.setPhase('halted');
  }

  /** Holds while paused or halted and until a window is open; false when the operator aborted. */
  private async gate(): Promise<boolean> {
    for (;;) {
      if (this.aborted !== undefined) return false;
      if (this.paused) {
        if (this.state.phase !== 'halted') this.setPhase('paused');
        await condition(() => !this.paused || this.aborted !== undefined);
        continue;
      }
      const now = await this.clockNow();
      // A pause or abort that arrived while the clock was read holds the next wave too: look again.
      if (this.paused || this.aborted !== undefined) continue;
      const window = windowStatus(this.windows, now);
      if (window.open) {
        this.state.nextWindowAt = undefined;
        return true;
      }
      this.state.nextWindowAt = window.opensAt;
      this.setPhase('waiting-for-window');
      if (window.opensAt === undefined) {
        // Validated to open at start; a window that can no longer open waits for the operator's abort.
        await condition(() => this.aborted !== undefined);
      } else {
        // The provider's clock may run at another pace than the worker's: look again at least every poll.
        const poll = (this.input.windowPollSeconds ?? DEFAULT_WINDOW_POLL_SECONDS) * 1000;
        await condition(
          () => this.paused || this.aborted !== undefined,
          Math.max(1_000, Math.min(window.opensAt - now, poll)),
        );
      }
    }
  }

  /** The provider's time (the fleet's clock, which windows are about). */
  private async clockNow(): Promise<number> {
    if (this.targets.length === 0) return Date.now();
    return reads.readProviderClock
      .executeWithOptions({ ...OBSERVATION, summary: "read the provider's clock" }, [this.targets[0]!.primary.hostId])
      .catch(() => Date.now()); // an unreachable provider: the worker's clock is the best guess left
  }

  // ---- one pair's turn --------------------------------------------------------------------------------------------

  private async rollPair(pair: PairRollout, target: RolloutTarget): Promise<void> {
    // The pair's turn has begun (it counts as started for a pause arriving meanwhile).
    pair.step = 'checking';
    // A paused pair (a change freeze, a host in maintenance) is not to be changed, and a pair scaled out or
    // mid-action has a shadow carrying workloads: upgrading it would interrupt them, and its swap would be refused
    // anyway. Such a pair is left untouched, and says why.
    const why = await this.whyUnsettled(pair.pairId);
    if (why !== undefined) {
      pair.step = 'skipped';
      pair.detail = `not touched: ${why}; a later rollout can upgrade it`;
      return;
    }
    pair.startedAt = Date.now();
    const key: StepKey = (step) => `${this.info.workflowId}:${pair.pairId}:${step}`;
    const shadowId = target.shadow!.hostId;
    const primaryId = target.primary.hostId;
    const changed: string[] = [];
    try {
      pair.step = 'upgrading-shadow';
      const [primaryNow, shadowNow] = await Promise.all([this.read(primaryId), this.read(shadowId)]);
      pair.previous = primaryNow.values;
      if (primaryNow.hash !== shadowNow.hash) {
        pair.drift =
          `${shadowId} ran configuration ${shortHash(shadowNow.hash)} while ${primaryId} ran ${shortHash(primaryNow.hash)} ` +
          `when the pair's turn began; the rollout's configuration replaces both, the primary's is kept for a rollback`;
        this.state.drift = [...(this.state.drift ?? []), `${pair.pairId}: ${pair.drift}`];
      }
      if (!shadowNow.healthy) throw new Error(`shadow ${shadowId} is ${shadowNow.status}`);
      changed.push(shadowId);
      await this.upgradeAndVerify(pair, shadowId, key(`apply:${shadowId}`));

      pair.step = 'swapping';
      const swap = await actions.swapPairNow.executeWithOptions(
        { ...PROVIDER_ACTION, summary: `swap pair ${pair.pairId} for rollout ${this.state.rolloutId}` },
        [{ pairId: pair.pairId, reason: `rollout ${this.state.rolloutId}`, updateId: key('swap') }],
      );
      if (!swap.swapped) throw new Error(`swap failed: ${swap.reason}`);
      pair.primaryAfter = swap.primary.hostId;

      pair.step = 'upgrading-former-primary';
      changed.push(primaryId);
      await this.upgradeAndVerify(pair, primaryId, key(`apply:${primaryId}`));
      pair.step = 'done';
    } catch (error) {
      const reason = messageOf(error);
      const unrestored =
        pair.primaryAfter !== undefined
          ? await this.rollBackSwapped(pair, primaryId, shadowId, key)
          : await this.restore(pair, changed, key);
      pair.step = unrestored.length === 0 ? 'rolled-back' : 'failed';
      pair.detail =
        unrestored.length === 0
          ? `${reason}; previous configuration restored on ${changed.join(', ') || 'no host (nothing changed)'}`
          : `${reason}; rollback incomplete: ${unrestored.join('; ')}`;
    } finally {
      pair.finishedAt = Date.now();
    }
  }

  private async upgradeAndVerify(pair: PairRollout, hostId: string, idempotencyKey: string): Promise<void> {
    const desired = this.input.desired;
    const applied = await actions.applyConfiguration.executeWithOptions(
      { ...PROVIDER_ACTION, summary: `apply rollout ${this.state.rolloutId} on ${hostId}` },
      [{ hostId, desired, idempotencyKey }],
    );
    const check = await this.read(hostId);
    if (!check.healthy) throw new Error(`verification: ${hostId} is ${check.status} after the upgrade`);
    if (check.hash !== applied.hash || !sameValues(check.values, desired))
      throw new Error(`verification: ${hostId} runs configuration ${check.hash ?? 'none'}, not ${applied.hash}`);
    pair.verifiedHashes[hostId] = applied.hash;
  }

  /**
   * Rolls back a pair that already swapped, without interrupting its workloads: the former primary (now the shadow,
   * empty) gets the previous configuration back and must come up healthy; the roles swap back, the workloads moving
   * live; then the other host, empty again, gets the previous configuration too. Returns what could not be done.
   */
  private async rollBackSwapped(
    pair: PairRollout,
    formerPrimaryId: string,
    formerShadowId: string,
    key: StepKey,
  ): Promise<string[]> {
    const first = await this.restore(pair, [formerPrimaryId], key);
    if (first.length > 0) return first;
    const check = await this.read(formerPrimaryId);
    if (!check.healthy) return [`${formerPrimaryId} is ${check.status} with its previous configuration back`];
    const back = await actions.swapPairNow
      .executeWithOptions({ ...PROVIDER_ACTION, summary: `rollback: swap pair ${pair.pairId} back` }, [
        { pairId: pair.pairId, reason: `rollback of rollout ${this.state.rolloutId}`, updateId: key('swap-back') },
      ])
      .catch((error: unknown) => ({ swapped: false as const, reason: messageOf(error) }));
    if (!back.swapped) return [`swap back: ${back.reason}`];
    pair.primaryAfter = back.primary.hostId;
    return this.restore(pair, [formerShadowId], key);
  }

  /** Puts the pair's previous configuration back on the hosts the rollout changed; returns what could not be. */
  private async restore(pair: PairRollout, hostIds: string[], key: StepKey): Promise<string[]> {
    const previous = pair.previous;
    if (hostIds.length === 0) return [];
    if (!previous) return [`no previous configuration recorded for ${hostIds.join(', ')}`];
    const failures: string[] = [];
    for (const hostId of hostIds) {
      await actions.applyConfiguration
        .executeWithOptions({ ...PROVIDER_ACTION, summary: `rollback: restore configuration on ${hostId}` }, [
          { hostId, desired: previous, idempotencyKey: key(`restore:${hostId}`) },
        ])
        .catch((error: unknown) => failures.push(`${hostId}: ${messageOf(error)}`));
    }
    return failures;
  }

  /** Why the pair cannot be rolled now (paused, not steady, gone), or undefined when it can. */
  private async whyUnsettled(pairId: string): Promise<string | undefined> {
    const now = await reads.readRolloutTargets
      .executeWithOptions({ ...OBSERVATION, summary: `is pair ${pairId} steady and not paused` }, [
        { pairIds: [pairId] },
      ])
      .then(
        ([target]) => target,
        (error: unknown) => messageOf(error),
      );
    if (typeof now === 'string' || now === undefined) return `the pair could not be read (${now ?? 'no answer'})`;
    if (now.paused) return 'the pair is paused';
    if (now.phase !== undefined && now.phase !== 'steady') return `the pair is ${now.phase}, not steady`;
    return undefined;
  }

  private read(hostId: string) {
    return reads.readHostConfiguration.executeWithOptions(
      { ...OBSERVATION, summary: `read configuration and health of ${hostId}` },
      [hostId],
    );
  }
}

const shortHash = (hash: string | undefined): string => hash?.slice(0, 12) ?? 'none';

function sameValues(
  actual: Record<string, ConfigurationValue> | undefined,
  desired: Record<string, ConfigurationValue>,
): boolean {
  if (!actual) return false;
  const keys = Object.keys(desired);
  return Object.keys(actual).length === keys.length && keys.every((k) => actual[k] === desired[k]);
}

/** The most pairs whose turns overlapped in (workflow) time: what the budget limits. */
function maxOverlap(pairs: PairRollout[]): number {
  return maxOverlapping(
    pairs.flatMap((p) =>
      p.startedAt !== undefined && p.finishedAt !== undefined ? [{ start: p.startedAt, end: p.finishedAt }] : [],
    ),
  );
}
