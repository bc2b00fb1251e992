/**
 * pairObserverWorkflow (id `observe:<taskQueue>:<shard>`): holds one shard's pairs and runs the shard's observation
 * loop (activities/pairObserver.ts) for as long as it exists: every tick, one fleet read, batched metrics reads and
 * forecasts for all its pairs, each pair's scaling decision recorded, and an `act` update to a pair that must act.
 * Pairs join, change and leave with the `observationChange` signal (./shardMembers.ts). The members and their scaling
 * memories are what continues as new.
 */
import { makeContinueAsNewFunc, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PairObserverActivities } from '../activities/pairObserver.js';
import { MEMBERS_VERSION_MEMO } from '../src/shared/healthWatch.js';
import {
  type ObserverInput,
  observationChangeProblem,
  observationChangeSignal,
  observedMembersQuery,
  observerTaskQueue,
} from '../src/shared/observation.js';
import { SHARD_OBSERVATION } from './profiles.js';
import { runShardLoop } from './shardMembers.js';

export async function pairObserverWorkflow(input: ObserverInput): Promise<never> {
  // The observers' own task queue: the processes that serve it, not every worker, do the reading and forecasting.
  const { observePairs } = proxyActivities<PairObserverActivities>({
    ...SHARD_OBSERVATION,
    taskQueue: observerTaskQueue(input.taskQueue),
  });
  let memories = input.memories ?? {};
  const { members, version } = await runShardLoop({
    members: input.members,
    version: input.version,
    changesPerRun: input.changesPerRun,
    changeSignal: observationChangeSignal,
    membersQuery: observedMembersQuery,
    changeProblem: observationChangeProblem,
    run: (current, currentVersion) =>
      observePairs({
        taskQueue: input.taskQueue,
        shard: input.shard,
        observerWorkflowId: workflowInfo().workflowId,
        members: current,
        version: currentVersion,
        memories,
      }),
    finished: (result) => {
      memories = result.memories;
    },
  });
  // A member that left takes its memory with it.
  const kept = Object.fromEntries(Object.entries(memories).filter(([pairId]) => pairId in members));
  return makeContinueAsNewFunc<typeof pairObserverWorkflow>({ memo: { [MEMBERS_VERSION_MEMO]: version } })({
    ...input,
    members,
    version,
    memories: kept,
  });
}
