/**
 * Named timeout and retry profiles for activities. Each workflow picks one by name, so the operator reading a
 * history sees the same few shapes, and a change to one profile changes it everywhere.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../src/shared/failures.js';

/** Short calls to a local service (InfluxDB, the ONNX model): fail fast, retry a few times. */
export const QUICK_LOCAL_CALL: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};
