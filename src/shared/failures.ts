/**
 * Every ApplicationFailure Understudy raises has one of these types. Permanent ones are listed as non-retryable
 * in the worker's retry policies, so a bad request fails once with its reason instead of retrying for hours.
 * No Node built-ins here: workflow code imports this module.
 */
export const FailureType = {
  /** The request itself is wrong (a bad payload, an out-of-range value); retrying cannot help. */
  InvalidInput: 'InvalidInput',
  /** The provider refused an action as the caller's fault (unknown host, wrong status, no room). */
  ProviderRejected: 'ProviderRejected',
  /** A provider action ran and failed part-way; the provider undid it. Retryable: a fresh attempt may succeed. */
  ProviderOperationFailed: 'ProviderOperationFailed',
  /** A swap's or failover's pre-check found the pair not ready (shadow unhealthy, replication behind, no room). */
  PreCheckFailed: 'PreCheckFailed',
  /** The metrics store could not give the data a decision needs; the pair takes no action on missing data. */
  MetricsUnavailable: 'MetricsUnavailable',
} as const;

export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export const NON_RETRYABLE_FAILURES: readonly FailureType[] = [
  FailureType.InvalidInput,
  FailureType.ProviderRejected,
  FailureType.PreCheckFailed,
];

/**
 * The message worth showing for a failure a workflow caught: an activity failure's cause (the activity's own error)
 * rather than the wrapper's "Activity task failed".
 */
export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}
