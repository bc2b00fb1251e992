/**
 * Rollout activities: apply and verify a configuration on one host, ask a pair to swap and await the outcome, and
 * read the pairs to roll. Provider actions carry the workflow's idempotency key; the swap carries it as the
 * update id, so a retried activity attaches to the same swap instead of asking for a second one.
 */
import { ApplicationFailure, Context, heartbeat, log } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { FleetProvider } from '../src/provider/types.js';
import { PROVIDER_ERROR_STATUS, isRetryableProviderError } from '../src/provider/types.js';
import type { ConfigurationValue } from '../src/policy/rollout.js';
import { FailureType } from '../src/shared/failures.js';
import {
  fleetStateQuery,
  pairWorkflowId,
  stateQuery,
  swapNowUpdate,
  type FleetState,
  type SwapNowResult,
} from '../src/shared/pair.js';
import { pairsUnderRolloutSignal, type RolloutTarget } from '../src/shared/rollout.js';

export interface RolloutDependencies {
  provider: FleetProvider;
  temporal: Client;
}

/** How often a waiting activity tells Temporal it is alive (the profile's heartbeat timeout is 3 s). */
const HEARTBEAT_EVERY_MS = 1_000;

function asFailure(error: unknown, what: string): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !(code in PROVIDER_ERROR_STATUS)) return error;
  const providerCode = code as keyof typeof PROVIDER_ERROR_STATUS;
  if (providerCode === 'operation_failed')
    return ApplicationFailure.retryable(`${what}: ${error.message}`, FailureType.ProviderOperationFailed);
  if (!isRetryableProviderError(providerCode))
    return ApplicationFailure.nonRetryable(`${what}: ${error.message}`, FailureType.ProviderRejected);
  return error;
}

export interface HostConfiguration {
  hostId: string;
  healthy: boolean;
  status: string;
  values?: Record<string, ConfigurationValue>;
  hash?: string;
}

export function createRolloutActivities({ provider, temporal }: RolloutDependencies) {
  return {
    /** Applies `desired` on one host and returns the hash the provider applied. */
    async applyConfiguration(input: {
      hostId: string;
      desired: Record<string, ConfigurationValue>;
      idempotencyKey: string;
    }): Promise<{ hash: string }> {
      const context = Context.current();
      const what = `apply configuration on ${input.hostId}`;
      try {
        const resumed = context.info.heartbeatDetails as { operationId?: string } | undefined;
        const started = resumed?.operationId
          ? await provider.getOperation<'syncConfiguration'>(resumed.operationId)
          : await provider.syncConfiguration(input);
        heartbeat({ operationId: started.id });
        const done = await provider.waitForOperation(started, {
          onProgress: (op) => heartbeat({ operationId: op.id }),
          signal: context.cancellationSignal,
        });
        return { hash: done.result!.hash };
      } catch (error) {
        throw asFailure(error, what);
      }
    },

    /** The host's health and applied configuration, read fresh (never from a cache) for verification. */
    async readHostConfiguration(hostId: string): Promise<HostConfiguration> {
      try {
        const [host, health] = await Promise.all([provider.getHost(hostId), provider.healthCheck(hostId)]);
        return {
          hostId,
          healthy: health.healthy,
          status: health.status,
          values: host.appliedConfiguration?.values,
          hash: host.appliedConfiguration?.hash,
        };
      } catch (error) {
        throw asFailure(error, `read configuration of ${hostId}`);
      }
    },

    /** Asks the pair to swap now (its `swapNow` update) and waits for the outcome; refusals are permanent. */
    async swapPairNow(input: { pairId: string; reason: string; updateId: string }): Promise<SwapNowResult> {
      const beat = setInterval(() => heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await temporal.workflow
          .getHandle(pairWorkflowId(input.pairId))
          .executeUpdate(swapNowUpdate, { args: [{ reason: input.reason }], updateId: input.updateId });
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError) {
          const cause = error.cause instanceof Error ? error.cause.message : error.message;
          throw ApplicationFailure.nonRetryable(
            `pair ${input.pairId} refused the swap: ${cause}`,
            FailureType.PreCheckFailed,
          );
        }
        throw error;
      } finally {
        clearInterval(beat);
      }
    },

    /** The provider's clock (epoch ms): allowed windows are judged by the fleet's time, not the worker's. */
    async readProviderClock(hostId: string): Promise<number> {
      try {
        return Date.parse((await provider.healthCheck(hostId)).checkedAt);
      } catch (error) {
        throw asFailure(error, `read the provider's clock through ${hostId}`);
      }
    },

    /** The fleet's regions and standby fraction, for the spare-capacity proof; undefined when it does not say. */
    async readSpareCapacity(fleetWorkflowId: string): Promise<FleetState['spareCapacity']> {
      return (await temporal.workflow.getHandle(fleetWorkflowId).query(fleetStateQuery)).spareCapacity;
    },

    /**
     * The pairs to roll, each as the pair itself knows it (its `state` query: primary and shadow after any swap),
     * from the list given or from the running fleet.
     */
    async readRolloutTargets(input: {
      pairIds?: string[];
      fleetWorkflowId?: string;
      /** The rollout asking: another rollout holding the fleet refuses it. */
      rolloutId?: string;
    }): Promise<RolloutTarget[]> {
      let pairIds = input.pairIds;
      if (input.fleetWorkflowId) {
        const fleetHandle = temporal.workflow.getHandle(input.fleetWorkflowId);
        const fleet = await fleetHandle.query(fleetStateQuery);
        // The fleet knows which rollout holds its pairs: a second one is refused while the first runs.
        const hold = fleet.underRollout;
        if (hold !== undefined && hold.rolloutId !== input.rolloutId) {
          if (hold.workflowId !== undefined && !(await workflowIsRunning(temporal, hold.workflowId))) {
            // Its rollout was terminated (or timed out) without handing the pairs back: release them, or no
            // rollout could ever run on this fleet again and its drift correction would stay held.
            log.warn(
              `fleet ${input.fleetWorkflowId}: releasing the hold of rollout ${hold.rolloutId}, which no longer runs`,
            );
            await fleetHandle.signal(pairsUnderRolloutSignal, { rolloutId: hold.rolloutId, pairIds: [] });
          } else {
            throw ApplicationFailure.nonRetryable(
              `rollout ${hold.rolloutId} is running on fleet ${input.fleetWorkflowId}; abort it or wait for it to finish`,
              FailureType.InvalidInput,
            );
          }
        }
        pairIds ??= fleet.pairs.map((p) => p.pairId);
      }
      if (!pairIds)
        throw ApplicationFailure.nonRetryable('name the pairs or the fleet to roll', FailureType.InvalidInput);
      return Promise.all(
        pairIds.map(async (pairId) => {
          try {
            const state = await temporal.workflow.getHandle(pairWorkflowId(pairId)).query(stateQuery);
            return { pairId, primary: state.primary, shadow: state.shadow, phase: state.phase, paused: state.paused };
          } catch (error) {
            throw ApplicationFailure.nonRetryable(
              `pair ${pairId} is not running: ${(error as Error).message}`,
              FailureType.InvalidInput,
            );
          }
        }),
      );
    },
  };
}

/** Whether the workflow runs now (false when it finished or never existed). */
export async function workflowIsRunning(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;
