/**
 * The fleet's standby health check: one read of the provider's hosts, judged by the pure `assessShadowHealth`
 * here rather than in the workflow, so the fleet's history records the short verdict instead of the whole fleet
 * every minute. A failed shadow that a running maintenance holds (of the shadow or of its primary) is named, so
 * the fleet reports it instead of replacing it.
 */
import type { Client } from '@temporalio/client';
import { assessShadowHealth, type RecordedPair, type ShadowHealthReport } from '../src/policy/shadowHealth.js';
import type { FleetProvider } from '../src/provider/types.js';
import { maintenanceWorkflowId } from '../src/shared/rollout.js';
import { workflowIsRunning } from './rollout.js';

export interface FleetHealthDependencies {
  provider: FleetProvider;
  temporal: Client;
}

export interface ShadowHealthInput {
  pairs: RecordedPair[];
  /** Shadows the fleet took out of their pairs and has not decommissioned yet. */
  retiring: string[];
}

export interface ShadowHealth extends ShadowHealthReport {
  /** Failed shadows whose host, or whose pair's primary, a running maintenance workflow holds. */
  heldByMaintenance: { pairId: string; shadowHostId: string; maintenanceWorkflowId: string }[];
}

export function createFleetHealthActivities({ provider, temporal }: FleetHealthDependencies) {
  return {
    async readShadowHealth(input: ShadowHealthInput): Promise<ShadowHealth> {
      // A failed read is retried by the activity's profile; the fleet skips this check if it keeps failing.
      const report = assessShadowHealth((await provider.describeFleet()).hosts, input.pairs, input.retiring);
      const heldByMaintenance: ShadowHealth['heldByMaintenance'] = [];
      const failedShadows: ShadowHealthReport['failedShadows'] = [];
      for (const failed of report.failedShadows) {
        const holders = await Promise.all(
          [failed.shadowHostId, failed.primaryHostId].map(async (hostId) =>
            (await workflowIsRunning(temporal, maintenanceWorkflowId(hostId)))
              ? maintenanceWorkflowId(hostId)
              : undefined,
          ),
        );
        const holder = holders.find((id) => id !== undefined);
        if (holder === undefined) failedShadows.push(failed);
        else
          heldByMaintenance.push({
            pairId: failed.pairId,
            shadowHostId: failed.shadowHostId,
            maintenanceWorkflowId: holder,
          });
      }
      return { ...report, failedShadows, heldByMaintenance };
    },
  };
}

export type FleetHealthActivities = ReturnType<typeof createFleetHealthActivities>;
