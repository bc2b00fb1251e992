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
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { primaryFailedUpdate } from '../src/shared/healthWatch.js';
import { actUpdate } from '../src/shared/observation.js';
import {
  type HostPairInput,
  type PairState,
  failoverUpdate,
  forceSwapSignal,
  offPeakSwapSignal,
  pauseSignal,
  resumeSignal,
  setPolicyUpdate,
  shadowReplacedSignal,
  stateQuery,
  swapNowUpdate,
} from '../src/shared/pair.js';
import { PairEntity } from './pairEntity.js';

export async function hostPairWorkflow(input: HostPairInput): Promise<PairState> {
  const pair = new PairEntity(input);
  // Before the handlers: a signal that came with the start is delivered as its handler is set, and publishes after.
  pair.publish();

  // Their order matters to replay for the same reason.
  setHandler(stateQuery, () => pair.state);
  setHandler(pauseSignal, (request) => pair.pause(request));
  setHandler(resumeSignal, () => pair.resume());
  setHandler(forceSwapSignal, (request) => pair.forceSwap(request));
  setHandler(offPeakSwapSignal, () => pair.offPeakSwap());
  setHandler(shadowReplacedSignal, (shadow) => pair.shadowReplaced(shadow));
  setHandler(failoverUpdate, (request) => pair.failover(request), {
    validator: (request: unknown) => pair.validateFailover(request),
  });
  setHandler(primaryFailedUpdate, (report) => pair.primaryFailed(report), {
    validator: (report: unknown) => pair.validatePrimaryFailed(report),
  });
  setHandler(actUpdate, (order) => pair.act(order), { validator: (order: unknown) => pair.validateAct(order) });
  setHandler(swapNowUpdate, (request) => pair.swapNow(request), {
    validator: (request: unknown) => pair.validateSwapNow(request),
  });
  setHandler(setPolicyUpdate, (patch) => pair.setPolicy(patch), {
    validator: (patch: unknown) => pair.validateSetPolicy(patch),
  });

  await pair.run();
  await condition(allHandlersFinished);
  return continueAsNew<typeof hostPairWorkflow>(pair.continuation());
}
