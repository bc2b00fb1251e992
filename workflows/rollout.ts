/**
 * rolloutWorkflow: a fleet-wide rolling upgrade through swaps. It owns one desired configuration and the pairs it
 * rolls: validated up front (nothing changes on a refusal), then wave by wave under the disruption budget, in the
 * region-safe order of src/policy/rollout.ts, inside the allowed windows. Per pair: upgrade the shadow, verify it
 * (health, applied values and hash), swap through the pair's own `swapNow` update (so the pair workflow stays the
 * one owner of its roles), upgrade the former primary, verify it. A pair failing any step gets its previous
 * configuration back on the hosts already changed; the others carry on, or the rollout halts, per `onPairFailure`.
 * Health gates between waves; pause, resume and abort act between waves (a wave in flight always finishes, so no
 * pair is left half-upgraded). Windows are judged by the provider's clock. Between waves, a long rollout continues
 * as new with its progress, so ten thousand pairs never outgrow one workflow history.
 */
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import {
  type RolloutInput,
  type RolloutState,
  abortRolloutSignal,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStateQuery,
} from '../src/shared/rollout.js';
import { RolloutEntity } from './rolloutEntity.js';

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutState> {
  const rollout = new RolloutEntity(input);
  setHandler(rolloutStateQuery, () => rollout.state);
  setHandler(pauseRolloutSignal, () => rollout.pause());
  setHandler(resumeRolloutSignal, () => rollout.resume());
  setHandler(abortRolloutSignal, (request) => rollout.abort(request));
  // After the handlers: a pause that came with a continued run's start publishes first, as it always did.
  rollout.publish();

  if (!input.progress) await rollout.validateAndPlan();
  if ((await rollout.run()) === 'continue-as-new') {
    // The fleet keeps holding the pairs: the next run carries on where this one stopped.
    await condition(allHandlersFinished);
    return continueAsNew<typeof rolloutWorkflow>(rollout.continuation());
  }
  return rollout.finish();
}
