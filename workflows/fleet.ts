/**
 * fleetWorkflow (id `fleet`): owns the topology. From the primaries and regions it places shadows (never in the
 * primary's region, diversity groups spread, resilient to any single-region outage), provisions them, syncs their
 * configuration and starts replication, then starts one `hostPairWorkflow` per primary. It keeps running: it
 * corrects configuration drift on shadows, replaces shadows consumed by failovers and shadows that failed (never
 * into a region that is failed now), and gives a shadow and a pair to each primary a scale-out provisioned.
 */
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { type FleetState, fleetStateQuery, primaryAddedSignal, shadowConsumedSignal } from '../src/shared/pair.js';
import { pairsUnderRolloutSignal } from '../src/shared/rollout.js';
import { FleetEntity, type FleetInput } from './fleetEntity.js';

export type { FleetInput } from './fleetEntity.js';

export async function fleetWorkflow(input: FleetInput): Promise<FleetState> {
  const fleet = new FleetEntity(input);
  setHandler(fleetStateQuery, () => fleet.state);
  setHandler(shadowConsumedSignal, (message) => fleet.shadowConsumed(message));
  setHandler(primaryAddedSignal, (message) => fleet.primaryAdded(message));
  setHandler(pairsUnderRolloutSignal, (message) => fleet.pairsUnderRollout(message));

  if (!input.state) await fleet.placeAndStart();
  await fleet.run();

  await condition(allHandlersFinished);
  // Signals that arrived during the last check are still in the state: the next run handles them first.
  return continueAsNew<typeof fleetWorkflow>(fleet.continuation());
}
