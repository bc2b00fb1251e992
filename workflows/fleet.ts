/**
 * fleetWorkflow (id `fleet`): owns the topology. From the primaries and regions it places shadows (never in the
 * primary's region, diversity groups spread, resilient to any single-region outage), provisions them, syncs their
 * configuration and starts replication, then starts one `hostPairWorkflow` per primary. It keeps running: it
 * corrects configuration drift on shadows, replaces shadows consumed by failovers and shadows that failed (never
 * into a region that is failed now), and gives a shadow and a pair to each primary a scale-out provisioned.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
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
  fleetStateQuery,
  pairWorkflowId,
  primaryAddedProblem,
  primaryAddedSignal,
  shadowConsumedProblem,
  shadowConsumedSignal,
  shadowReplacedSignal,
} from '../src/shared/pair.js';
import { pairsUnderRolloutProblem, pairsUnderRolloutSignal } from '../src/shared/rollout.js';
import { hostPairWorkflow } from './hostPair.js';
import { OBSERVATION, PROVIDER_ACTION } from './profiles.js';

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

export async function fleetWorkflow(input: FleetInput): Promise<FleetState> {
  const topology: Topology = structuredCloneTopology(input.topology);
  const problems = validateTopology(topology);
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid topology: ${problems.map((p) => p.message).join('; ')}`,
      FailureType.InvalidInput,
    );
  }
  const checkIntervalSeconds = input.checkIntervalSeconds ?? DRIFT_CHECK_INTERVAL_MS / 1000;
  if (!Number.isFinite(checkIntervalSeconds) || checkIntervalSeconds < 1) {
    throw ApplicationFailure.nonRetryable(
      `checkIntervalSeconds must be a number of at least 1, got ${String(input.checkIntervalSeconds)}`,
      FailureType.InvalidInput,
    );
  }
  const state: FleetState = input.state ?? { pairs: [], replacements: 0, driftCorrections: 0, problems: [] };
  state.spareCapacity = { regions: topology.regions, shadowFraction: input.policy.shadowFraction };
  const info = workflowInfo();
  const pending = (state.pending ??= { shadowsConsumed: [], primariesAdded: [] });
  const consumed = pending.shadowsConsumed;
  const added = pending.primariesAdded;

  setHandler(fleetStateQuery, () => state);
  // Signals cannot be refused: a malformed payload is dropped with a warning instead of failing the workflow task.
  const accepts = (problem: string | undefined): boolean => {
    if (problem !== undefined) log.warn(`fleet: signal ignored: ${problem}`);
    return problem === undefined;
  };
  setHandler(
    shadowConsumedSignal,
    (message) => void (accepts(shadowConsumedProblem(message)) && consumed.push(message)),
  );
  setHandler(primaryAddedSignal, (message) => void (accepts(primaryAddedProblem(message)) && added.push(message)));
  setHandler(pairsUnderRolloutSignal, (message) => {
    if (!accepts(pairsUnderRolloutProblem(message))) return;
    state.underRollout = message.pairIds.length > 0 ? message : undefined;
  });

  const key = (step: string): string => `${info.workflowId}:${step}`;
  /** A problem the fleet cannot solve, listed once however often a check meets it again. */
  const report = (problem: string): void => {
    if (!state.problems.includes(problem)) state.problems.push(problem);
  };
  const assignments = (): ShadowAssignment[] =>
    state.pairs.flatMap((p) =>
      p.shadow
        ? [
            {
              primaryHostId: p.primary.hostId,
              region: p.shadow.region,
              zone: p.shadow.zone,
              allocationFraction: input.policy.shadowFraction,
            },
          ]
        : [],
    );

  /** Provisions a shadow for `primary` at `assignment`, copies the configuration and starts replication. */
  async function provisionShadow(
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
          idempotencyKey: key(`provision:${hostId}`),
        },
      ],
    );
    try {
      await actions.syncShadowConfiguration.executeWithOptions(
        { ...PROVIDER_ACTION, summary: `copy ${primary.hostId}'s configuration to ${hostId}` },
        [{ primaryHostId: primary.hostId, shadowHostId: hostId, idempotencyKey: key(`sync:${hostId}`) }],
      );
      await actions.startReplication.executeWithOptions(
        { ...PROVIDER_ACTION, summary: `replicate ${primary.hostId} → ${hostId}` },
        [
          {
            sourceHostId: primary.hostId,
            targetHostId: hostId,
            idempotencyKey: key(`replicate:${primary.hostId}:${hostId}`),
          },
        ],
      );
    } catch (error) {
      // Built but never made a standby: no pair will own it, so it goes rather than idle on the bill.
      await actions.decommissionHost
        .executeWithOptions({ ...PROVIDER_ACTION, summary: `decommission half-built shadow ${hostId}` }, [
          { hostId, idempotencyKey: key(`clear:${hostId}`) },
        ])
        .catch(() => undefined); // the provider refusing this too: the problem listed for the pair says enough
      throw error;
    }
    return { hostId, region: assignment.region, zone: assignment.zone, capacity: primary.capacity };
  }

  async function startPair(pair: FleetPair): Promise<void> {
    const pairInput: HostPairInput = {
      pairId: pair.pairId,
      primary: pair.primary,
      shadow: pair.shadow,
      policy: input.policy,
      fleetWorkflowId: info.workflowId,
      ...(input.pairIterationsPerRun !== undefined ? { iterationsPerRun: input.pairIterationsPerRun } : {}),
    };
    try {
      await startChild(hostPairWorkflow, {
        workflowId: pairWorkflowId(pair.pairId),
        args: [pairInput],
        // Pairs outlive a fleet run (continue-as-new, or an operator restarting the fleet).
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `pair ${pair.pairId}: ${pair.primary.hostId} (${pair.primary.region}) ⇄ ${pair.shadow?.hostId ?? 'no shadow'}`,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
    for (let i = 0; i < items.length; i += PROVISIONING_CONCURRENCY) {
      await Promise.all(items.slice(i, i + PROVISIONING_CONCURRENCY).map(work));
    }
  }

  // ---- first run: place, provision, start the pairs ----------------------------------------------------------------
  if (!input.state) {
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
    const placement = placeShadows(topology, { shadowFraction: input.policy.shadowFraction });
    if (!placement.ok) {
      throw ApplicationFailure.nonRetryable(
        `no resilient shadow placement: ${placement.problems.map((p) => p.message).join('; ')}`,
        FailureType.InvalidInput,
      );
    }
    await inBatches(placement.assignments, async (assignment) => {
      const spec = topology.primaries.find((p) => p.hostId === assignment.primaryHostId)!;
      const primary = refOf(spec);
      const shadow = await provisionShadow(spec.hostId, primary, assignment, 1);
      state.pairs.push({ pairId: spec.hostId, primary, shadow, diversityGroup: spec.diversityGroup });
    });
    state.pairs.sort((a, b) => (a.pairId < b.pairId ? -1 : 1));
    await inBatches(state.pairs, startPair);
  }

  // ---- then: keep the fleet whole ------------------------------------------------------------------------------------
  const iterationsPerRun = input.iterationsPerRun ?? ITERATIONS_PER_RUN;
  for (let iteration = 0; iteration < iterationsPerRun && !workflowInfo().continueAsNewSuggested; iteration++) {
    await condition(() => consumed.length > 0 || added.length > 0, checkIntervalSeconds * 1000, {
      summary: 'wait for a consumed shadow, or the next drift check',
    });
    // One read of the provider per check: which regions are failed (no new shadow goes there) and which shadows
    // failed (replaced below).
    const shadowHealth = await readShadowHealth();
    const failedRegions = shadowHealth?.failedRegions ?? [];
    // Taken before this check's own replacements: a pair whose new shadow just failed is tried again at the next
    // check, not a second time in this one.
    const withoutShadow = state.pairs.filter((p) => !p.shadow);

    while (consumed.length > 0) {
      const { pairId, newPrimary } = consumed.shift()!;
      const pair = state.pairs.find((p) => p.pairId === pairId);
      if (!pair) continue;
      const failedPrimaryId = pair.primary.hostId;
      pair.primary = newPrimary;
      pair.shadow = undefined;
      replacePrimaryInTopology(topology, failedPrimaryId, newPrimary, pair.diversityGroup);
      await giveShadow(pair, failedRegions);
    }
    while (added.length > 0) {
      const { fromPairId, primary } = added.shift()!;
      if (state.pairs.some((p) => p.primary.hostId === primary.hostId)) continue;
      const source = state.pairs.find((p) => p.pairId === fromPairId);
      const pair: FleetPair = { pairId: primary.hostId, primary, diversityGroup: source?.diversityGroup };
      topology.primaries.push({
        hostId: primary.hostId,
        region: primary.region,
        zone: primary.zone,
        capacity: primary.capacity,
        diversityGroup: pair.diversityGroup,
      });
      state.pairs.push(pair);
      await giveShadow(pair, failedRegions);
      if (pair.shadow) await startPair(pair);
    }

    // Pairs left without a shadow by an earlier check (no region could take one, or provisioning failed) try again.
    if (withoutShadow.length > 0) {
      for (const pair of withoutShadow) {
        if (pair.shadow) continue; // given one by this check already (a failover's replacement above)
        // A pair added by a scale-out starts only once it has a shadow; one already running ignores the start.
        if (await giveShadow(pair, failedRegions)) await startPair(pair);
      }
    }

    // Drift: a shadow's configuration must equal its primary's, or a failover would bring up the wrong one. Pairs
    // under rollout differ on purpose while their turn runs: their drift is reported, never overwritten here.
    const rolling = state.underRollout?.pairIds ?? [];
    // Failed shadows left in place (held, or no region for a new one) are not synced: they cannot take it.
    const leftFailed = shadowHealth ? await replaceFailedShadows(shadowHealth, rolling) : [];
    if (rolling.length > 0) await reportDriftUnderRollout(rolling);
    for (const pair of state.pairs) {
      if (!pair.shadow || rolling.includes(pair.pairId)) continue;
      if (leftFailed.includes(pair.shadow.hostId) || leftFailed.includes(pair.primary.hostId)) continue;
      const result = await actions.syncShadowConfiguration
        .executeWithOptions(
          { ...PROVIDER_ACTION, summary: `drift check ${pair.primary.hostId} → ${pair.shadow.hostId}` },
          [
            {
              primaryHostId: pair.primary.hostId,
              shadowHostId: pair.shadow.hostId,
              idempotencyKey: key(`drift:${pair.shadow.hostId}`),
            },
          ],
        )
        .catch((error: unknown) => {
          log.warn('drift check failed', { pairId: pair.pairId, error: (error as Error).message });
          return { drifted: false };
        });
      if (result.drifted) state.driftCorrections += 1;
    }
    state.lastDriftCheckAt = Date.now();
  }

  await condition(allHandlersFinished);
  // Signals that arrived during the last check are still in `state.pending`: the next run handles them first.
  return continueAsNew<typeof fleetWorkflow>({
    topology,
    policy: input.policy,
    ...(input.checkIntervalSeconds !== undefined ? { checkIntervalSeconds: input.checkIntervalSeconds } : {}),
    ...(input.iterationsPerRun !== undefined ? { iterationsPerRun: input.iterationsPerRun } : {}),
    ...(input.pairIterationsPerRun !== undefined ? { pairIterationsPerRun: input.pairIterationsPerRun } : {}),
    state,
  });

  async function reportDriftUnderRollout(pairIds: string[]): Promise<void> {
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
  async function giveShadow(pair: FleetPair, failedRegions: string[]): Promise<boolean> {
    const choice = chooseReplacementShadowRegion(topology, assignments(), pair.primary.hostId, {
      shadowFraction: input.policy.shadowFraction,
      ...(failedRegions.length > 0 ? { excludeRegions: failedRegions } : {}),
    });
    const assignment = choice.ok ? choice.assignment : choice.bestEffort;
    if (!assignment) {
      report(
        `pair ${pair.pairId}: no region can take a shadow for ${pair.primary.hostId}: ${choice.ok ? '' : choice.problems.map((p) => p.message).join('; ')}`,
      );
      return false;
    }
    state.replacements += 1;
    let shadow: HostRef;
    try {
      shadow = await provisionShadow(pair.pairId, pair.primary, assignment, state.replacements + 1);
    } catch (error) {
      // A provider that keeps refusing (a region it cannot build in) must not fail the whole fleet: the pair stays
      // without a new shadow, the problem is listed, and the next check tries again under a new host id.
      const hostId = `${pair.pairId}-s${state.replacements + 1}`;
      report(
        `pair ${pair.pairId}: provisioning shadow ${hostId} in ${assignment.region} failed: ${messageOf(error)}; tried again at the next check`,
      );
      return false;
    }
    // Solved: the pair's earlier problems (no region, a failed provisioning) are history now.
    state.problems = state.problems.filter((problem) => !problem.startsWith(`pair ${pair.pairId}: `));
    if (!choice.ok) report(`pair ${pair.pairId}: shadow placed without full regional resilience`);
    pair.shadow = shadow;
    await getExternalWorkflowHandle(pairWorkflowId(pair.pairId))
      .signal(shadowReplacedSignal, shadow)
      .catch(() => undefined); // a pair that is not running yet gets its shadow when it starts
    return true;
  }

  /** The provider's view of the standbys; undefined (this check skipped) when it cannot be read. */
  async function readShadowHealth(): Promise<ShadowHealth | undefined> {
    const pairs = state.pairs.map((p) => ({
      pairId: p.pairId,
      primaryHostId: p.primary.hostId,
      ...(p.shadow ? { shadowHostId: p.shadow.hostId } : {}),
    }));
    const health = await standbys.readShadowHealth
      .executeWithOptions({ ...OBSERVATION, summary: 'read the health of the shadows and regions' }, [
        { pairs, retiring: state.retiring ?? [] },
      ])
      .catch((error: unknown) => {
        log.warn('shadow health check failed', { error: (error as Error).message });
        return undefined;
      });
    if (health) state.failedRegions = health.failedRegions;
    return health;
  }

  /**
   * Gives each pair whose shadow failed (its primary serving) a new shadow the way a consumed one is replaced, and
   * retires the failed one: it leaves the pair at once and is decommissioned once its region is no longer failed (a
   * failed host in a failed region is what shows the region failed). Pairs a rollout or a maintenance holds, and
   * shadows the fleet must not replace on its own, are reported in `failedShadowsLeft`. Returns the failed shadows
   * left in place.
   */
  async function replaceFailedShadows(health: ShadowHealth, rolling: string[]): Promise<string[]> {
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
        replacePrimaryInTopology(topology, recordedStandby.hostId, recordedServing, pair.diversityGroup);
      }
      if (await giveShadow(pair, health.failedRegions)) {
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
          { hostId, idempotencyKey: key(`retire:${hostId}`) },
        ])
        .catch((error: unknown) => report(`could not decommission ${hostId}: ${(error as Error).message}`));
    }
    state.retiring = [...stillRetiring, ...retired];
    return left.map((l) => l.hostId);
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
