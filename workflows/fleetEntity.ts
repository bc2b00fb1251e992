/**
 * The fleet entity behind fleetWorkflow (workflows/fleet.ts): one object that owns the topology and the plain-data
 * FleetState (the `fleetState` query's answer, signals not yet acted on included), and whose whole data continues as
 * new. Its methods are the workflow's handlers, its first-run placement and its checks.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { FleetHealthActivities, ShadowHealth } from '../activities/fleetHealth.js';
import type { OrchestrationActivities } from '../activities/orchestration.js';
import { chooseReplacementShadowRegion, placeShadows, validateTopology } from '../src/policy/placement.js';
import type { PrimarySpec, ShadowAssignment, Topology } from '../src/policy/types.js';
import { FailureType, messageOf } from '../src/shared/failures.js';
import {
  type FleetPair,
  type FleetState,
  type HostPairInput,
  type HostRef,
  type PairPolicy,
  type PrimaryAdded,
  type ShadowConsumed,
  pairWorkflowId,
  primaryAddedProblem,
  shadowConsumedProblem,
  shadowReplacedSignal,
} from '../src/shared/pair.js';
import { type PairsUnderRollout, pairsUnderRolloutProblem } from '../src/shared/rollout.js';
import { hostPairWorkflow } from './hostPair.js';
import { OBSERVATION, PROVIDER_ACTION, WORKFLOW_TASK_TIMEOUT } from './profiles.js';

const actions = proxyActivities<OrchestrationActivities>(PROVIDER_ACTION);
const reads = proxyActivities<OrchestrationActivities>(OBSERVATION);
const standbys = proxyActivities<FleetHealthActivities>(OBSERVATION);

/** Between two checks of the fleet (drift, failed shadows), unless the input says otherwise. */
const DRIFT_CHECK_INTERVAL_MS = 60_000;
const ITERATIONS_PER_RUN = 500;
/** Shadows are provisioned this many at a time: a fleet start must not flood the provider. */
const PROVISIONING_CONCURRENCY = 8;

export interface FleetInput {
  topology: Topology;
  policy: PairPolicy;
  /** Seconds between the fleet's checks (drift, failed shadows), at least 1; default 60. */
  checkIntervalSeconds?: number;
  /** Checks per run before continue-as-new (default 500); the state, pending signals included, carries over. */
  iterationsPerRun?: number;
  /** The pairs' `iterationsPerRun` (their default when absent): the fault campaign makes them continue as new often. */
  pairIterationsPerRun?: number;
  /** Carried across continue-as-new. */
  state?: FleetState;
}

export class FleetEntity {
  /** What the `fleetState` query answers and continue-as-new carries. */
  readonly state: FleetState;
  /** The primaries and regions as they are now (failovers and scale-outs change them); carried across runs too. */
  private readonly topology: Topology;
  private readonly checkIntervalSeconds: number;
  /** Signals not yet acted on, oldest first; objects inside `state`, so the next run handles what this one left. */
  private readonly consumed: ShadowConsumed[];
  private readonly added: PrimaryAdded[];
  private readonly info = workflowInfo();

  /** Refuses an invalid topology or check interval before anything happens. */
  constructor(private readonly input: FleetInput) {
    this.topology = structuredCloneTopology(input.topology);
    const problems = validateTopology(this.topology);
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `invalid topology: ${problems.map((p) => p.message).join('; ')}`,
        FailureType.InvalidInput,
      );
    }
    this.checkIntervalSeconds = input.checkIntervalSeconds ?? DRIFT_CHECK_INTERVAL_MS / 1000;
    if (!Number.isFinite(this.checkIntervalSeconds) || this.checkIntervalSeconds < 1) {
      throw ApplicationFailure.nonRetryable(
        `checkIntervalSeconds must be a number of at least 1, got ${String(input.checkIntervalSeconds)}`,
        FailureType.InvalidInput,
      );
    }
    this.state = input.state ?? { pairs: [], replacements: 0, driftCorrections: 0, problems: [] };
    this.state.spareCapacity = { regions: this.topology.regions, shadowFraction: input.policy.shadowFraction };
    const pending = (this.state.pending ??= { shadowsConsumed: [], primariesAdded: [] });
    this.consumed = pending.shadowsConsumed;
    this.added = pending.primariesAdded;
  }

  /** What the next run starts from: the topology as it is now, the same settings, and the whole state. */
  continuation(): FleetInput {
    const input = this.input;
    return {
      topology: this.topology,
      policy: input.policy,
      ...(input.checkIntervalSeconds !== undefined ? { checkIntervalSeconds: input.checkIntervalSeconds } : {}),
      ...(input.iterationsPerRun !== undefined ? { iterationsPerRun: input.iterationsPerRun } : {}),
      ...(input.pairIterationsPerRun !== undefined ? { pairIterationsPerRun: input.pairIterationsPerRun } : {}),
      state: this.state,
    };
  }

  // ---- signals: they cannot be refused, so a malformed payload is dropped with a warning ---------------------------

  private accepts(problem: string | undefined): boolean {
    if (problem !== undefined) log.warn(`fleet: signal ignored: ${problem}`);
    return problem === undefined;
  }

  shadowConsumed(message: ShadowConsumed): void {
    if (this.accepts(shadowConsumedProblem(message))) this.consumed.push(message);
  }

  primaryAdded(message: PrimaryAdded): void {
    if (this.accepts(primaryAddedProblem(message))) this.added.push(message);
  }

  pairsUnderRollout(message: PairsUnderRollout): void {
    if (!this.accepts(pairsUnderRolloutProblem(message))) return;
    this.state.underRollout = message.pairIds.length > 0 ? message : undefined;
  }

  // ---- first run: place, provision, start the pairs ----------------------------------------------------------------

  async placeAndStart(): Promise<void> {
    const state = this.state;
    const topology = this.topology;
    const fleet = await reads.describeFleet.executeWithOptions({ ...OBSERVATION, summary: 'read the fleet' }, []);
    const missing = topology.primaries.filter(
      (p) => !fleet.hosts.some((h) => h.id === p.hostId && h.role === 'primary' && h.status === 'active'),
    );
    if (missing.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `primaries not active in the provider: ${missing.map((p) => p.hostId).join(', ')}`,
        FailureType.InvalidInput,
      );
    }
    const placement = placeShadows(topology, { shadowFraction: this.input.policy.shadowFraction });
    if (!placement.ok) {
      throw ApplicationFailure.nonRetryable(
        `no resilient shadow placement: ${placement.problems.map((p) => p.message).join('; ')}`,
        FailureType.InvalidInput,
      );
    }
    await inBatches(placement.assignments, async (assignment) => {
      const spec = topology.primaries.find((p) => p.hostId === assignment.primaryHostId)!;
      const primary = refOf(spec);
      const shadow = await this.provisionShadow(spec.hostId, primary, assignment, 1);
      state.pairs.push({ pairId: spec.hostId, primary, shadow, diversityGroup: spec.diversityGroup });
    });
    state.pairs.sort((a, b) => (a.pairId < b.pairId ? -1 : 1));
    await inBatches(state.pairs, (pair) => this.startPair(pair));
  }

  // ---- then: keep the fleet whole ------------------------------------------------------------------------------------

  /** Checks until the run is long enough; then the caller continues as new. */
  async run(): Promise<void> {
    const iterationsPerRun = this.input.iterationsPerRun ?? ITERATIONS_PER_RUN;
    for (let iteration = 0; iteration < iterationsPerRun && !workflowInfo().continueAsNewSuggested; iteration++) {
      await condition(() => this.consumed.length > 0 || this.added.length > 0, this.checkIntervalSeconds * 1000, {
        summary: 'wait for a consumed shadow, or the next drift check',
      });
      await this.check();
    }
  }

  private async check(): Promise<void> {
    const state = this.state;
    // One read of the provider per check: which regions are failed (no new shadow goes there) and which shadows
    // failed (replaced below).
    const shadowHealth = await this.readShadowHealth();
    const failedRegions = shadowHealth?.failedRegions ?? [];
    // Taken before this check's own replacements: a pair whose new shadow just failed is tried again at the next
    // check, not a second time in this one.
    const withoutShadow = state.pairs.filter((p) => !p.shadow);

    await this.replaceConsumedShadows(failedRegions);
    await this.pairAddedPrimaries(failedRegions);

    // Pairs left without a shadow by an earlier check (no region could take one, or provisioning failed) try again.
    for (const pair of withoutShadow) {
      if (pair.shadow) continue; // given one by this check already (a failover's replacement above)
      // A pair added by a scale-out starts only once it has a shadow; one already running ignores the start.
      if (await this.giveShadow(pair, failedRegions)) await this.startPair(pair);
    }

    // Drift: a shadow's configuration must equal its primary's, or a failover would bring up the wrong one. Pairs
    // under rollout differ on purpose while their turn runs: their drift is reported, never overwritten here.
    const rolling = state.underRollout?.pairIds ?? [];
    // Failed shadows left in place (held, or no region for a new one) are not synced: they cannot take it.
    const leftFailed = shadowHealth ? await this.replaceFailedShadows(shadowHealth, rolling) : [];
    if (rolling.length > 0) await this.reportDriftUnderRollout(rolling);
    await this.correctDrift(rolling, leftFailed);
    state.lastDriftCheckAt = Date.now();
  }

  /** A failover consumed the pair's shadow: the pair's new primary gets a new shadow. */
  private async replaceConsumedShadows(failedRegions: string[]): Promise<void> {
    while (this.consumed.length > 0) {
      const { pairId, newPrimary } = this.consumed.shift()!;
      const pair = this.state.pairs.find((p) => p.pairId === pairId);
      if (!pair) continue;
      const failedPrimaryId = pair.primary.hostId;
      pair.primary = newPrimary;
      pair.shadow = undefined;
      replacePrimaryInTopology(this.topology, failedPrimaryId, newPrimary, pair.diversityGroup);
      await this.giveShadow(pair, failedRegions);
    }
  }

  /** A scale-out provisioned a new primary: it gets a shadow and a pair of its own. */
  private async pairAddedPrimaries(failedRegions: string[]): Promise<void> {
    while (this.added.length > 0) {
      const { fromPairId, primary } = this.added.shift()!;
      if (this.state.pairs.some((p) => p.primary.hostId === primary.hostId)) continue;
      const source = this.state.pairs.find((p) => p.pairId === fromPairId);
      const pair: FleetPair = { pairId: primary.hostId, primary, diversityGroup: source?.diversityGroup };
      this.topology.primaries.push({
        hostId: primary.hostId,
        region: primary.region,
        zone: primary.zone,
        capacity: primary.capacity,
        diversityGroup: pair.diversityGroup,
      });
      this.state.pairs.push(pair);
      await this.giveShadow(pair, failedRegions);
      if (pair.shadow) await this.startPair(pair);
    }
  }

  private async correctDrift(rolling: string[], leftFailed: string[]): Promise<void> {
    for (const pair of this.state.pairs) {
      if (!pair.shadow || rolling.includes(pair.pairId)) continue;
      if (leftFailed.includes(pair.shadow.hostId) || leftFailed.includes(pair.primary.hostId)) continue;
      const result = await actions.syncShadowConfiguration
        .executeWithOptions(
          { ...PROVIDER_ACTION, summary: `drift check ${pair.primary.hostId} → ${pair.shadow.hostId}` },
          [
            {
              primaryHostId: pair.primary.hostId,
              shadowHostId: pair.shadow.hostId,
              idempotencyKey: this.key(`drift:${pair.shadow.hostId}`),
            },
          ],
        )
        .catch((error: unknown) => {
          log.warn('drift check failed', { pairId: pair.pairId, error: (error as Error).message });
          return { drifted: false };
        });
      if (result.drifted) this.state.driftCorrections += 1;
    }
  }

  // ---- helpers --------------------------------------------------------------------------------------------------------

  private key(step: string): string {
    return `${this.info.workflowId}:${step}`;
  }

  /** A problem the fleet cannot solve, listed once however often a check meets it again. */
  private report(problem: string): void {
    if (!this.state.problems.includes(problem)) this.state.problems.push(problem);
  }

  private assignments(): ShadowAssignment[] {
    return this.state.pairs.flatMap((p) =>
      p.shadow
        ? [
            {
              primaryHostId: p.primary.hostId,
              region: p.shadow.region,
              zone: p.shadow.zone,
              allocationFraction: this.input.policy.shadowFraction,
            },
          ]
        : [],
    );
  }

  /** Provisions a shadow for `primary` at `assignment`, copies the configuration and starts replication. */
  private async provisionShadow(
    pairId: string,
    primary: HostRef,
    assignment: ShadowAssignment,
    generation: number,
  ): Promise<HostRef> {
    const hostId = `${pairId}-s${generation}`;
    await actions.provisionHost.executeWithOptions(
      {
        ...PROVIDER_ACTION,
        summary: `provision shadow ${hostId} for ${primary.hostId} in ${assignment.region}/${assignment.zone}`,
      },
      [
        {
          hostId,
          region: assignment.region,
          zone: assignment.zone,
          capacity: primary.capacity,
          role: 'shadow',
          pairId,
          allocationFraction: assignment.allocationFraction,
          idempotencyKey: this.key(`provision:${hostId}`),
        },
      ],
    );
    try {
      await actions.syncShadowConfiguration.executeWithOptions(
        { ...PROVIDER_ACTION, summary: `copy ${primary.hostId}'s configuration to ${hostId}` },
        [{ primaryHostId: primary.hostId, shadowHostId: hostId, idempotencyKey: this.key(`sync:${hostId}`) }],
      );
      await actions.startReplication.executeWithOptions(
        { ...PROVIDER_ACTION, summary: `replicate ${primary.hostId} → ${hostId}` },
        [
          {
            sourceHostId: primary.hostId,
            targetHostId: hostId,
            idempotencyKey: this.key(`replicate:${primary.hostId}:${hostId}`),
          },
        ],
      );
    } catch (error) {
      // Built but never made a standby: no pair will own it, so it goes rather than idle on the bill.
      await actions.decommissionHost
        .executeWithOptions({ ...PROVIDER_ACTION, summary: `decommission half-built shadow ${hostId}` }, [
          { hostId, idempotencyKey: this.key(`clear:${hostId}`) },
        ])
        .catch(() => undefined); // the provider refusing this too: the problem listed for the pair says enough
      throw error;
    }
    return { hostId, region: assignment.region, zone: assignment.zone, capacity: primary.capacity };
  }

  private async startPair(pair: FleetPair): Promise<void> {
    const pairInput: HostPairInput = {
      pairId: pair.pairId,
      primary: pair.primary,
      shadow: pair.shadow,
      policy: this.input.policy,
      fleetWorkflowId: this.info.workflowId,
      ...(this.input.pairIterationsPerRun !== undefined ? { iterationsPerRun: this.input.pairIterationsPerRun } : {}),
    };
    try {
      await startChild(hostPairWorkflow, {
        workflowId: pairWorkflowId(pair.pairId),
        args: [pairInput],
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
        // Pairs outlive a fleet run (continue-as-new, or an operator restarting the fleet).
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `pair ${pair.pairId}: ${pair.primary.hostId} (${pair.primary.region}) ⇄ ${pair.shadow?.hostId ?? 'no shadow'}`,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  private async reportDriftUnderRollout(pairIds: string[]): Promise<void> {
    const state = this.state;
    const fleet = await reads.describeFleet
      .executeWithOptions({ ...OBSERVATION, summary: 'read configurations of pairs under rollout' }, [])
      .catch(() => undefined);
    if (!fleet) return;
    const hashOf = (hostId: string) => fleet.hosts.find((h) => h.id === hostId)?.appliedConfiguration?.hash;
    state.driftUnderRollout = state.pairs
      .filter((p) => p.shadow && pairIds.includes(p.pairId))
      .filter((p) => hashOf(p.primary.hostId) !== hashOf(p.shadow!.hostId))
      .map(
        (p) =>
          `${p.pairId}: ${p.primary.hostId} and ${p.shadow!.hostId} differ (rollout ${state.underRollout?.rolloutId})`,
      );
  }

  /**
   * Places, provisions and hands the pair a new shadow, never in `failedRegions`; false (with a problem recorded)
   * when no region can take it.
   */
  private async giveShadow(pair: FleetPair, failedRegions: string[]): Promise<boolean> {
    const state = this.state;
    const choice = chooseReplacementShadowRegion(this.topology, this.assignments(), pair.primary.hostId, {
      shadowFraction: this.input.policy.shadowFraction,
      ...(failedRegions.length > 0 ? { excludeRegions: failedRegions } : {}),
    });
    const assignment = choice.ok ? choice.assignment : choice.bestEffort;
    if (!assignment) {
      this.report(
        `pair ${pair.pairId}: no region can take a shadow for ${pair.primary.hostId}: ${choice.ok ? '' : choice.problems.map((p) => p.message).join('; ')}`,
      );
      return false;
    }
    state.replacements += 1;
    let shadow: HostRef;
    try {
      shadow = await this.provisionShadow(pair.pairId, pair.primary, assignment, state.replacements + 1);
    } catch (error) {
      // A provider that keeps refusing (a region it cannot build in) must not fail the whole fleet: the pair stays
      // without a new shadow, the problem is listed, and the next check tries again under a new host id.
      const hostId = `${pair.pairId}-s${state.replacements + 1}`;
      this.report(
        `pair ${pair.pairId}: provisioning shadow ${hostId} in ${assignment.region} failed: ${messageOf(error)}; tried again at the next check`,
      );
      return false;
    }
    // Solved: the pair's earlier problems (no region, a failed provisioning) are history now.
    state.problems = state.problems.filter((problem) => !problem.startsWith(`pair ${pair.pairId}: `));
    if (!choice.ok) this.report(`pair ${pair.pairId}: shadow placed without full regional resilience`);
    pair.shadow = shadow;
    await getExternalWorkflowHandle(pairWorkflowId(pair.pairId))
      .signal(shadowReplacedSignal, shadow)
      .catch(() => undefined); // a pair that is not running yet gets its shadow when it starts
    return true;
  }

  /** The provider's view of the standbys; undefined (this check skipped) when it cannot be read. */
  private async readShadowHealth(): Promise<ShadowHealth | undefined> {
    const pairs = this.state.pairs.map((p) => ({
      pairId: p.pairId,
      primaryHostId: p.primary.hostId,
      ...(p.shadow ? { shadowHostId: p.shadow.hostId } : {}),
    }));
    const health = await standbys.readShadowHealth
      .executeWithOptions({ ...OBSERVATION, summary: 'read the health of the shadows and regions' }, [
        { pairs, retiring: this.state.retiring ?? [] },
      ])
      .catch((error: unknown) => {
        log.warn('shadow health check failed', { error: (error as Error).message });
        return undefined;
      });
    if (health) this.state.failedRegions = health.failedRegions;
    return health;
  }

  /**
   * Gives each pair whose shadow failed (its primary serving) a new shadow the way a consumed one is replaced, and
   * retires the failed one: it leaves the pair at once and is decommissioned once its region is no longer failed (a
   * failed host in a failed region is what shows the region failed). Pairs a rollout or a maintenance holds, and
   * shadows the fleet must not replace on its own, are reported in `failedShadowsLeft`. Returns the failed shadows
   * left in place.
   */
  private async replaceFailedShadows(health: ShadowHealth, rolling: string[]): Promise<string[]> {
    const state = this.state;
    const left = [
      ...health.unreplaceable.map((u) => ({ hostId: u.shadowHostId, why: `pair ${u.pairId}: ${u.reason}` })),
      ...health.heldByMaintenance.map((m) => ({
        hostId: m.shadowHostId,
        why: `pair ${m.pairId}: shadow ${m.shadowHostId} failed; not replaced while ${m.maintenanceWorkflowId} holds the pair`,
      })),
    ];
    const retired: string[] = [];
    for (const failed of health.failedShadows) {
      const pair = state.pairs.find((p) => p.pairId === failed.pairId);
      if (!pair?.shadow) continue;
      const [recordedStandby, recordedServing] = failed.swapped
        ? [pair.primary, pair.shadow]
        : [pair.shadow, pair.primary];
      // The record moved on since the read (a failover's replacement above): the next check judges it afresh.
      if (recordedStandby.hostId !== failed.shadowHostId || recordedServing.hostId !== failed.primaryHostId) continue;
      if (rolling.includes(pair.pairId)) {
        left.push({
          hostId: failed.shadowHostId,
          why: `pair ${pair.pairId}: shadow ${failed.shadowHostId} failed; not replaced while rollout ${state.underRollout?.rolloutId} holds the pair`,
        });
        continue;
      }
      if (failed.swapped) {
        // A swap exchanged the roles since the fleet recorded them: record them as the provider has them.
        pair.primary = recordedServing;
        pair.shadow = recordedStandby;
        replacePrimaryInTopology(this.topology, recordedStandby.hostId, recordedServing, pair.diversityGroup);
      }
      if (await this.giveShadow(pair, health.failedRegions)) {
        state.failedShadowsReplaced = (state.failedShadowsReplaced ?? 0) + 1;
        retired.push(failed.shadowHostId);
      } else {
        left.push({
          hostId: failed.shadowHostId,
          why: `pair ${pair.pairId}: shadow ${failed.shadowHostId} failed; no region can take a new one now (see problems)`,
        });
      }
    }
    state.failedShadowsLeft = left.map((l) => l.why);

    const stillRetiring = [...health.keepRetiring];
    for (const hostId of health.decommissionable) {
      await actions.decommissionHost
        .executeWithOptions({ ...PROVIDER_ACTION, summary: `decommission failed shadow ${hostId}` }, [
          { hostId, idempotencyKey: this.key(`retire:${hostId}`) },
        ])
        .catch((error: unknown) => this.report(`could not decommission ${hostId}: ${(error as Error).message}`));
    }
    state.retiring = [...stillRetiring, ...retired];
    return left.map((l) => l.hostId);
  }
}

async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PROVISIONING_CONCURRENCY) {
    await Promise.all(items.slice(i, i + PROVISIONING_CONCURRENCY).map(work));
  }
}

const refOf = (spec: PrimarySpec): HostRef => ({
  hostId: spec.hostId,
  region: spec.region,
  zone: spec.zone,
  capacity: spec.capacity,
});

function replacePrimaryInTopology(
  topology: Topology,
  failedHostId: string,
  primary: HostRef,
  diversityGroup?: string,
): void {
  topology.primaries = topology.primaries.filter((p) => p.hostId !== failedHostId);
  topology.primaries.push({
    hostId: primary.hostId,
    region: primary.region,
    zone: primary.zone,
    capacity: primary.capacity,
    diversityGroup,
  });
}

function structuredCloneTopology(topology: Topology): Topology {
  return JSON.parse(JSON.stringify(topology)) as Topology;
}
