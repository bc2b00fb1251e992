/**
 * Every ApplicationFailure Understudy raises has one of these types. Permanent ones are listed as non-retryable
 * in the worker's retry policies, so a bad request fails once with its reason instead of retrying for hours.
 * No Node built-ins here: workflow code imports this module.
 */
export const FailureType = {
  /** The request itself is wrong (a bad payload, an out-of-range value); retrying cannot help. */
  InvalidInput: 'InvalidInput',
} as const;

export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export const NON_RETRYABLE_FAILURES: readonly FailureType[] = [FailureType.InvalidInput];
