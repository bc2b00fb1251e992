/**
 * maintenanceWorkflow (id `maintenance:<hostId>`): takes one host out of service and back, durably. A primary is
 * drained through its pair's `swapNow` (the workloads move live to the shadow, which becomes primary); a shadow
 * has nothing to drain. Then the host is held: its pair is paused with failover held, so the pair never fails
 * over onto a host in maintenance, until the operator's `endMaintenance` signal returns it (the pair resumes; the
 * roles stay as the drain left them). Fleet placement only ever provisions new hosts, so it never picks this one.
 */
import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/rollout.js';
import { FailureType } from '../src/shared/failures.js';
import { pairWorkflowId, pauseSignal, resumeSignal } from '../src/shared/pair.js';
import {
  endMaintenanceSignal,
  maintenanceStateQuery,
  type MaintenanceInput,
  type MaintenanceState,
} from '../src/shared/rollout.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import { OBSERVATION, PROVIDER_ACTION } from './profiles.js';

const actions = proxyActivities<RolloutActivities>(PROVIDER_ACTION);
const reads = proxyActivities<RolloutActivities>(OBSERVATION);

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
  const pairHandle = getExternalWorkflowHandle(pairWorkflowId(pair.pairId));
  await pairHandle.signal(pauseSignal, { disableFailover: true, reason: `host ${input.hostId} in maintenance` });
  setPhase('in-maintenance');
  await condition(() => ended);
  await pairHandle.signal(resumeSignal);
  setPhase('returned');
  return state;
}
