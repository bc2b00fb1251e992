/**
 * The policy module: pure, deterministic functions shared by workflows, benchmarks and tests (no I/O, no Node
 * built-ins, no clock or randomness of its own).
 */
export * from './types.js';
export { validateTopology, placeShadows, proveRegionalResilience, chooseReplacementShadowRegion } from './placement.js';
export {
  assessShadowHealth,
  failedRegions,
  type FailedShadow,
  type RecordedPair,
  type ShadowHealthReport,
  type UnreplaceableShadow,
} from './shadowHealth.js';
export {
  decideScaling,
  validateScalingPolicy,
  bindingPeak,
  workloadLoadShares,
  packWorkloads,
  SPIKE_RECURRENCE_MINUTES,
  type ScalingInput,
  type PackingResult,
} from './scaling.js';
export {
  validateCron,
  validateTimeZone,
  nextCronTime,
  quietestWindow,
  validateOffPeakSpec,
  offPeakToScheduleSpec,
} from './offPeak.js';
