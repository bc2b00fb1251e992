/**
 * Named timeout and retry profiles for activities. Each workflow picks one by name, so the operator reading a
 * history sees the same few shapes, and a change to one profile changes it everywhere.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../src/shared/failures.js';

/**
 * How long one workflow task of a pair or an action child may run on a worker. A pair's or a child's task takes
 * milliseconds (their histories stay short), so three seconds is ample; the SDK's ten held an action for ten seconds
 * when its worker died holding a task (bench:restart).
 */
export const WORKFLOW_TASK_TIMEOUT = '3 seconds';

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

/** A health check: it must answer within a few seconds, or it counts as no answer (not as a failed host). */
export const HEALTH_CHECK: ActivityOptions = {
  startToCloseTimeout: '3 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    maximumAttempts: 2,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};

/** A read of the provider's view (the fleet, the workloads left on a host): short, retried a few times. */
export const OBSERVATION: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};

/**
 * An action's read of the fleet (the workloads left on a failed primary, the room on a shadow): like OBSERVATION,
 * but the activity heartbeats while the provider answers, so a read lost with its worker is taken up again after
 * three silent seconds, not after the 30 s timeout.
 */
export const FLEET_READ: ActivityOptions = { ...OBSERVATION, heartbeatTimeout: '3 seconds' };

/**
 * A provider action (activate, migrate, fence, provision…): may run for minutes (provisioning ~90 s of provider
 * time), heartbeats its operation's progress, and retries for as long as the provider is the one failing.
 */
export const PROVIDER_ACTION: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  // The activity heartbeats on every answer about its operation (at least once a second; the SDK sends at most one
  // every 2 s, HEARTBEAT_THROTTLE): three silent seconds mean its worker is gone, and another worker resumes the
  // operation from the last heartbeat, so a crash holds an action up for about 3.5 s (bench:restart). A false alarm
  // only resumes the same operation twice.
  heartbeatTimeout: '3 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 20,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};

/**
 * A health watcher's long-running loop (activities/healthWatch.ts): it heartbeats every round, so five silent
 * seconds mean its worker is gone and another worker takes it up while the other lane keeps checking. Retried
 * without end: a shard must never stay unwatched.
 */
export const HEALTH_WATCH: ActivityOptions = {
  startToCloseTimeout: '40 minutes',
  heartbeatTimeout: '5 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '2 seconds',
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};

/**
 * A shard observer's long-running loop (activities/pairObserver.ts): it heartbeats every round, so after 20 silent
 * seconds (a round forecasts the whole shard, longer than a health round) another worker takes it up. Retried
 * without end: a shard must never stay undecided.
 */
export const SHARD_OBSERVATION: ActivityOptions = {
  startToCloseTimeout: '40 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  },
};
