/**
 * The pair's actions, each a child workflow of `hostPairWorkflow` so it shows in the Web UI as its own execution
 * with its own history: scale-out, scale-back, failover and the role swap (with its rollback). Every provider call
 * carries an idempotency key derived from this workflow's id and the step, so a retry never acts twice.
 */
import { ApplicationFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities/orchestration.js';
import type { MigrationResult } from '../src/provider/types.js';
import type { ScalingAction } from '../src/policy/types.js';
import { FailureType, messageOf } from '../src/shared/failures.js';
import type { FailoverResult, HostRef } from '../src/shared/pair.js';
import { FLEET_READ, HEALTH_CHECK, OBSERVATION, PROVIDER_ACTION } from './profiles.js';

const actions = proxyActivities<OrchestrationActivities>(PROVIDER_ACTION);
const reads = proxyActivities<OrchestrationActivities>(OBSERVATION);
const health = proxyActivities<OrchestrationActivities>(HEALTH_CHECK);

/** The key of one step of this workflow: stable across retries and replays, unique across workflows. */
const stepKey = (step: string): string => `${workflowInfo().workflowId}:${step}`;

/** Runs an activity with a one-line summary, so the Web UI shows "migrate w-12 from h-3 to h-9", not a bare name. */
function labelled<A extends unknown[], R>(
  fn: { executeWithOptions(options: ActivityOptions, args: A): Promise<R> },
  profile: ActivityOptions,
  summary: string,
  ...args: A
): Promise<R> {
  return fn.executeWithOptions({ ...profile, summary }, args);
}

function migrate(workloadId: string, from: string, to: string): Promise<MigrationResult> {
  return labelled(actions.migrateWorkload, PROVIDER_ACTION, `migrate ${workloadId} from ${from} to ${to}`, {
    workloadId,
    sourceHostId: from,
    targetHostId: to,
    idempotencyKey: stepKey(`migrate:${workloadId}:${from}:${to}`),
  });
}

// ---- scale-out ------------------------------------------------------------------------------------------------------

export interface ScaleOutInput {
  pairId: string;
  primary: HostRef;
  shadow?: HostRef;
  action: Extract<ScalingAction, { kind: 'activate-shadow-and-migrate' | 'scale-up-shadow' | 'provision-primary' }>;
}

export interface ScaleOutResult {
  moved: string[];
  /** The host that received the workloads. */
  targetHostId: string;
  /** Set when a new primary was provisioned (the fleet gives it a shadow of its own). */
  newPrimary?: HostRef;
}

export async function scaleOutWorkflow(input: ScaleOutInput): Promise<ScaleOutResult> {
  const { action, primary, shadow } = input;
  let target: HostRef;
  let newPrimary: HostRef | undefined;
  if (action.kind === 'provision-primary') {
    const hostId = `${primary.hostId}-x${workflowInfo().runId.slice(0, 6)}`;
    await labelled(actions.provisionHost, PROVIDER_ACTION, `provision primary ${hostId} in ${primary.region}`, {
      hostId,
      region: primary.region,
      zone: primary.zone,
      capacity: action.capacity,
      role: 'primary',
      idempotencyKey: stepKey('provision'),
    });
    target = { hostId, region: primary.region, zone: primary.zone, capacity: action.capacity };
    newPrimary = target;
  } else {
    if (!shadow)
      throw ApplicationFailure.nonRetryable(
        `pair ${input.pairId} has no shadow to scale out onto`,
        FailureType.PreCheckFailed,
      );
    target = shadow;
    if (action.kind === 'activate-shadow-and-migrate') {
      await labelled(
        actions.activateShadow,
        PROVIDER_ACTION,
        `activate shadow ${shadow.hostId} at ${action.allocationFraction * 100}%`,
        {
          hostId: shadow.hostId,
          allocationFraction: action.allocationFraction,
          idempotencyKey: stepKey('activate'),
        },
      );
    } else {
      await labelled(
        actions.scaleUpShadow,
        PROVIDER_ACTION,
        `scale up shadow ${shadow.hostId} to ${action.allocationFraction * 100}%`,
        {
          hostId: shadow.hostId,
          allocationFraction: action.allocationFraction,
          idempotencyKey: stepKey('scale-up'),
        },
      );
    }
  }
  await Promise.all(action.workloadIds.map((id) => migrate(id, primary.hostId, target.hostId)));
  return { moved: action.workloadIds, targetHostId: target.hostId, newPrimary };
}

// ---- scale-back -------------------------------------------------------------------------------------------------------

export interface ScaleBackInput {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  workloadIds: string[];
  allocationFraction: number;
}

export async function scaleBackWorkflow(input: ScaleBackInput): Promise<{ movedHome: string[] }> {
  const { primary, shadow } = input;
  await Promise.all(input.workloadIds.map((id) => migrate(id, shadow.hostId, primary.hostId)));
  await labelled(actions.deactivateShadow, PROVIDER_ACTION, `return shadow ${shadow.hostId} to standby`, {
    hostId: shadow.hostId,
    allocationFraction: input.allocationFraction,
    idempotencyKey: stepKey('deactivate'),
  });
  return { movedHome: input.workloadIds };
}

// ---- failover -----------------------------------------------------------------------------------------------------------

export interface FailoverInput {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  reason: string;
  /** The shadow's standby allocation, restored when the fence fails after the shadow was grown. */
  standbyFraction?: number;
}

/** The policy's default shadow allocation, for failovers started without one. */
const DEFAULT_STANDBY_FRACTION = 0.15;

/** Fence before promoting, always: the old primary must never serve again once its shadow takes over. */
export async function failoverWorkflow(input: FailoverInput): Promise<FailoverResult> {
  const { primary, shadow } = input;
  log.info('failing over', { pairId: input.pairId, reason: input.reason });
  const fence = () =>
    labelled(actions.fenceHost, PROVIDER_ACTION, `fence failed primary ${primary.hostId}`, {
      hostId: primary.hostId,
      idempotencyKey: stepKey('fence'),
    });
  const activate = () =>
    labelled(actions.activateShadow, PROVIDER_ACTION, `activate shadow ${shadow.hostId} at full size`, {
      hostId: shadow.hostId,
      allocationFraction: 1,
      idempotencyKey: stepKey('activate'),
    });
  // Growing the shadow while the fence runs is safe: it still is a shadow and serves nothing until it is
  // promoted, and promotion waits for the fence. Run one after the other, the two provider delays added up and
  // kept the shadow from being ready within 5 s of the first missed check (bench:failover).
  const [fenced, activated] = await Promise.allSettled([fence(), activate()]);
  if (fenced.status === 'rejected') {
    // The old primary may still serve: the shadow must not stay grown for nothing, and must not be promoted.
    if (activated.status === 'fulfilled') {
      await labelled(actions.deactivateShadow, PROVIDER_ACTION, `return shadow ${shadow.hostId} to standby`, {
        hostId: shadow.hostId,
        allocationFraction: input.standbyFraction ?? DEFAULT_STANDBY_FRACTION,
        idempotencyKey: stepKey('stand-down'),
      });
    }
    throw fenced.reason;
  }
  if (activated.status === 'rejected') throw activated.reason;
  await labelled(actions.setRole, PROVIDER_ACTION, `promote ${shadow.hostId} to primary`, {
    hostId: shadow.hostId,
    role: 'primary',
    idempotencyKey: stepKey('promote'),
  });
  const fleet = await labelled(reads.describeFleet, FLEET_READ, `list workloads left on ${primary.hostId}`, {
    hostIds: [primary.hostId],
  });
  const stranded = fleet.workloads.filter((w) => w.hostId === primary.hostId).map((w) => w.id);
  const results = await Promise.all(stranded.map((id) => migrate(id, primary.hostId, shadow.hostId)));
  return {
    newPrimary: shadow.hostId,
    fencedHost: primary.hostId,
    lostVersions: results.reduce((max, r) => Math.max(max, r.lostVersions), 0),
    workloadsRestored: stranded,
  };
}

// ---- swap ---------------------------------------------------------------------------------------------------------------

export interface SwapInput {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  shadowFraction: number;
  /** Largest replication lag the pre-check accepts, in seconds of provider time. */
  maxReplicationLagSeconds: number;
  reason: string;
}

export type SwapResult =
  /** `checkedAt`: the provider's clock (epoch ms) at the pre-check, just before the roles began to move. */
  | { swapped: true; primary: HostRef; shadow: HostRef; moved: string[]; checkedAt: number }
  | { swapped: false; rolledBack: boolean; reason: string };

/**
 * Exchanges the roles without downtime: grow the shadow, move every workload live, demote the primary, promote the
 * shadow, shrink the former primary to standby and replicate the other way. Any failure after the pre-checks rolls
 * back what was done, so the pair ends as it started.
 */
export async function swapWorkflow(input: SwapInput): Promise<SwapResult> {
  const { primary, shadow } = input;

  // Pre-checks: refuse before touching anything.
  const shadowHealth = await labelled(
    health.checkHealth,
    HEALTH_CHECK,
    `pre-check: is shadow ${shadow.hostId} healthy`,
    shadow.hostId,
  );
  if (!shadowHealth.healthy)
    return { swapped: false, rolledBack: false, reason: `shadow ${shadow.hostId} is ${shadowHealth.status}` };
  const replication = await labelled(
    reads.verifyReplication,
    OBSERVATION,
    `pre-check: replication ${primary.hostId} → ${shadow.hostId}`,
    {
      sourceHostId: primary.hostId,
      targetHostId: shadow.hostId,
    },
  );
  if (
    replication.state !== 'caught-up' &&
    !(replication.state === 'streaming' && replication.lagSeconds <= input.maxReplicationLagSeconds)
  ) {
    return {
      swapped: false,
      rolledBack: false,
      reason: `replication ${primary.hostId} → ${shadow.hostId} is ${replication.state} (lag ${replication.lagSeconds.toFixed(1)} s)`,
    };
  }
  const fleet = await labelled(
    reads.describeFleet,
    FLEET_READ,
    `pre-check: room on ${shadow.hostId} for ${primary.hostId}'s workloads`,
    { hostIds: [primary.hostId, shadow.hostId] },
  );
  const workloads = fleet.workloads.filter((w) => w.hostId === primary.hostId);
  for (const resource of ['cpuCores', 'memoryGiB', 'storageIops', 'networkMbps'] as const) {
    const needed = workloads.reduce((sum, w) => sum + w.requirements[resource], 0);
    if (needed > shadow.capacity[resource]) {
      return {
        swapped: false,
        rolledBack: false,
        reason: `shadow ${shadow.hostId} lacks ${resource}: needs ${needed}, has ${shadow.capacity[resource]}`,
      };
    }
  }

  const progress: SwapProgress = { activated: false, moved: [], demoted: false, promoted: false };
  const { moved } = progress;
  try {
    await labelled(actions.activateShadow, PROVIDER_ACTION, `activate shadow ${shadow.hostId} at full size`, {
      hostId: shadow.hostId,
      allocationFraction: 1,
      idempotencyKey: stepKey('activate'),
    });
    progress.activated = true;
    for (const w of workloads) {
      await migrate(w.id, primary.hostId, shadow.hostId);
      moved.push(w.id);
    }
    // Demote before promoting: never two primaries at once, even for a moment.
    await labelled(actions.setRole, PROVIDER_ACTION, `demote ${primary.hostId} to shadow`, {
      hostId: primary.hostId,
      role: 'shadow',
      idempotencyKey: stepKey('demote'),
    });
    progress.demoted = true;
    await labelled(actions.setRole, PROVIDER_ACTION, `promote ${shadow.hostId} to primary`, {
      hostId: shadow.hostId,
      role: 'primary',
      idempotencyKey: stepKey('promote'),
    });
    progress.promoted = true;
    await labelled(actions.deactivateShadow, PROVIDER_ACTION, `return ${primary.hostId} to standby`, {
      hostId: primary.hostId,
      allocationFraction: input.shadowFraction,
      idempotencyKey: stepKey('standby'),
    });
    await labelled(actions.startReplication, PROVIDER_ACTION, `replicate ${shadow.hostId} → ${primary.hostId}`, {
      sourceHostId: shadow.hostId,
      targetHostId: primary.hostId,
      idempotencyKey: stepKey('replicate'),
    });
    return { swapped: true, primary: shadow, shadow: primary, moved, checkedAt: shadowHealth.checkedAt };
  } catch (error) {
    const reason = messageOf(error);
    log.warn('swap failed; rolling back', { pairId: input.pairId, reason });
    const unrecovered = await rollBackSwap(input, progress);
    if (unrecovered.length > 0) {
      return { swapped: false, rolledBack: false, reason: `${reason}; rollback incomplete: ${unrecovered.join('; ')}` };
    }
    return { swapped: false, rolledBack: true, reason };
  }
}

interface SwapProgress {
  activated: boolean;
  moved: string[];
  demoted: boolean;
  promoted: boolean;
}

/** Undoes a swap's steps in reverse; each step is tried even when an earlier one failed. Returns what failed. */
async function rollBackSwap(input: SwapInput, progress: SwapProgress): Promise<string[]> {
  const { primary, shadow } = input;
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (progress.promoted) {
    await attempt('demote', () =>
      labelled(actions.setRole, PROVIDER_ACTION, `rollback: demote ${shadow.hostId}`, {
        hostId: shadow.hostId,
        role: 'shadow',
        idempotencyKey: stepKey('rollback:demote'),
      }),
    );
  }
  if (progress.demoted) {
    await attempt('restore primary', () =>
      labelled(actions.setRole, PROVIDER_ACTION, `rollback: restore ${primary.hostId} as primary`, {
        hostId: primary.hostId,
        role: 'primary',
        idempotencyKey: stepKey('rollback:promote'),
      }),
    );
  }
  for (const id of progress.moved) {
    await attempt(`move ${id} home`, () =>
      labelled(actions.migrateWorkload, PROVIDER_ACTION, `rollback: move ${id} home to ${primary.hostId}`, {
        workloadId: id,
        sourceHostId: shadow.hostId,
        targetHostId: primary.hostId,
        idempotencyKey: stepKey(`rollback:migrate:${id}`),
      }),
    );
  }
  if (progress.activated) {
    await attempt('standby', () =>
      labelled(actions.deactivateShadow, PROVIDER_ACTION, `rollback: return ${shadow.hostId} to standby`, {
        hostId: shadow.hostId,
        allocationFraction: input.shadowFraction,
        idempotencyKey: stepKey('rollback:standby'),
      }),
    );
  }
  return failures;
}
