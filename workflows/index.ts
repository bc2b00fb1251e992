/** Every workflow type the Understudy worker registers; the bundler starts here. */
export { stackProbeWorkflow } from './stackProbe.js';
export { healthWatcherWorkflow } from './healthWatcher.js';
export { pairObserverWorkflow } from './pairObserver.js';
export { hostPairWorkflow } from './hostPair.js';
export { fleetWorkflow } from './fleet.js';
export { scaleOutWorkflow, scaleBackWorkflow, failoverWorkflow, swapWorkflow } from './actions.js';
export { offPeakSwapWorkflow } from './offPeakSwap.js';
export { retrainModelsWorkflow } from './retrainModels.js';
export { rolloutWorkflow } from './rollout.js';
export { maintenanceWorkflow } from './maintenance.js';
