/**
 * maintenanceWorkflow (id `maintenance:<hostId>`): takes one host out of service and back, durably.
 * - A primary is drained through its pair's `swapNow` (the workloads move live to the shadow, which becomes
 *   primary). The host is then its pair's shadow, so the pair is paused with failover held: it never fails over
 *   onto a host in maintenance. `endMaintenance` resumes the pair; the roles stay as the drain left them.
 * - A shadow's standby role moves onto another host: the fleet is asked for a replacement shadow (placed by the
 *   resilience proof, provisioned, configured and replicating) and the pair takes it, so the pair stays protected
 *   the whole time. The host leaves the pair; `endMaintenance` returns it to service as a spare.
 * Fleet placement only ever provisions new hosts, so it never picks a host in maintenance.
 */
import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  sleep,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/rollout.js';
import { drainSpareProblem } from '../src/policy/rollout.js';
import { FailureType } from '../src/shared/failures.js';
import { pairWorkflowId, pauseSignal, resumeSignal, shadowConsumedSignal } from '../src/shared/pair.js';
import {
  endMaintenanceSignal,
  maintenanceStateQuery,
  rolloutPairRefs,
  type MaintenanceInput,
  type MaintenanceState,
} from '../src/shared/rollout.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import type { HostRef } from '../src/shared/pair.js';
import { OBSERVATION, PROVIDER_ACTION } from './profiles.js';

const actions = proxyActivities<RolloutActivities>(PROVIDER_ACTION);
const reads = proxyActivities<RolloutActivities>(OBSERVATION);

/** How often, and how long, to look for the replacement shadow (provisioning a host takes ~90 s). */
const REPLACEMENT_POLL_MS = 2_000;
const REPLACEMENT_TIMEOUT_MS = 30 * 60_000;

export async function maintenanceWorkflow(input: MaintenanceInput): Promise<MaintenanceState> {
  const state: MaintenanceState = { hostId: input.hostId, phase: 'checking' };
  let ended = false;
  setHandler(maintenanceStateQuery, () => state);
  setHandler(endMaintenanceSignal, () => void (ended = true));
  const setPhase = (phase: MaintenanceState['phase']): void => {
    state.phase = phase;
    upsertSearchAttributes([{ key: SearchAttributeKeys.PairPhase, value: `maintenance-${phase}` }]);
  };

  // Refusals first: nothing changes for an unknown host, a failed one, or one no pair owns.
  const host = await reads.readHostConfiguration
    .executeWithOptions({ ...OBSERVATION, summary: `is ${input.hostId} known and healthy` }, [input.hostId])
    .catch((error: unknown) => {
      throw ApplicationFailure.nonRetryable(
        `maintenance refused: unknown host ${input.hostId} (${(error as Error).message})`,
        FailureType.InvalidInput,
      );
    });
  if (!host.healthy)
    throw ApplicationFailure.nonRetryable(
      `maintenance refused: host ${input.hostId} is ${host.status}`,
      FailureType.InvalidInput,
    );
  const targets = await reads.readRolloutTargets.executeWithOptions(
    { ...OBSERVATION, summary: 'find the pair of the host' },
    [{ fleetWorkflowId: input.fleetWorkflowId }],
  );
  const pair = targets.find((t) => t.primary.hostId === input.hostId || t.shadow?.hostId === input.hostId);
  if (!pair)
    throw ApplicationFailure.nonRetryable(
      `maintenance refused: no pair of fleet ${input.fleetWorkflowId} holds ${input.hostId}`,
      FailureType.InvalidInput,
    );
  state.pairId = pair.pairId;
  state.wasPrimary = pair.primary.hostId === input.hostId;

  if (state.wasPrimary && !input.allowReducedSpare) {
    // The drained pair serves from its shadow's region at full size until the host returns: refuse when that would
    // leave a region without room for another region's outage, as a rollout refuses such a swap.
    const spare = await reads.readSpareCapacity.executeWithOptions(
      { ...OBSERVATION, summary: "read the regions' spare capacity" },
      [input.fleetWorkflowId],
    );
    const problem = spare ? drainSpareProblem(rolloutPairRefs(targets), pair.pairId, spare) : undefined;
    if (problem !== undefined)
      throw ApplicationFailure.nonRetryable(
        `maintenance refused: ${problem} (--allow-reduced-spare drains it anyway)`,
        FailureType.PreCheckFailed,
      );
  }
  if (state.wasPrimary) {
    setPhase('draining');
    const swap = await actions.swapPairNow.executeWithOptions(
      { ...PROVIDER_ACTION, summary: `drain ${input.hostId} through a swap of pair ${pair.pairId}` },
      [
        {
          pairId: pair.pairId,
          reason: `maintenance of ${input.hostId}`,
          updateId: `${workflowInfo().workflowId}:drain`,
        },
      ],
    );
    if (!swap.swapped) {
      throw ApplicationFailure.nonRetryable(
        `maintenance refused: could not drain ${input.hostId}: ${swap.reason}`,
        FailureType.PreCheckFailed,
      );
    }
  }
  if (!state.wasPrimary) {
    setPhase('draining');
    state.standbyMovedTo = await moveStandby(pair.pairId, pair.primary);
    setPhase('in-maintenance');
    await condition(() => ended);
    setPhase('returned');
    return state;
  }
  const pairHandle = getExternalWorkflowHandle(pairWorkflowId(pair.pairId));
  await pairHandle.signal(pauseSignal, { disableFailover: true, reason: `host ${input.hostId} in maintenance` });
  setPhase('in-maintenance');
  await condition(() => ended);
  await pairHandle.signal(resumeSignal);
  setPhase('returned');
  return state;

  /** Asks the fleet for a new shadow for the pair (as after a failover consumed one) and waits until the pair has it. */
  async function moveStandby(pairId: string, primary: HostRef): Promise<string> {
    await getExternalWorkflowHandle(input.fleetWorkflowId).signal(shadowConsumedSignal, {
      pairId,
      newPrimary: primary,
    });
    for (let waited = 0; waited < REPLACEMENT_TIMEOUT_MS; waited += REPLACEMENT_POLL_MS) {
      const [now] = await reads.readRolloutTargets.executeWithOptions(
        { ...OBSERVATION, summary: `has pair ${pairId} a new shadow` },
        [{ pairIds: [pairId] }],
      );
      const shadow = now?.shadow?.hostId;
      if (shadow !== undefined && shadow !== input.hostId) return shadow;
      await sleep(REPLACEMENT_POLL_MS);
    }
    throw ApplicationFailure.nonRetryable(
      `maintenance of ${input.hostId}: fleet ${input.fleetWorkflowId} gave pair ${pairId} no new shadow in ` +
        `${REPLACEMENT_TIMEOUT_MS / 60_000} minutes (see its problems); the host is still the pair's shadow`,
      FailureType.PreCheckFailed,
    );
  }
}
