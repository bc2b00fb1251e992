/**
 * healthWatcherWorkflow (id `health-watch:<taskQueue>:<shard>:<lane>`): holds one lane's members of one shard and
 * runs the lane's watch loop (activities/healthWatch.ts) for as long as it exists. Pairs join and leave with the
 * `watchChange` signal; the loop starts with the members it was scheduled with and reads changes with the `members`
 * query when the version in the workflow's memo moved (./shardMembers.ts). The whole membership is what continues
 * as new, when the server suggests it or after many changes.
 */
import { makeContinueAsNewFunc, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { HealthWatchActivities } from '../activities/healthWatch.js';
import {
  MEMBERS_VERSION_MEMO,
  type WatcherInput,
  watchChangeProblem,
  watchChangeSignal,
  watcherMembersQuery,
  watchLaneTaskQueue,
} from '../src/shared/healthWatch.js';
import { HEALTH_WATCH } from './profiles.js';
import { runShardLoop } from './shardMembers.js';

export async function healthWatcherWorkflow(input: WatcherInput): Promise<never> {
  // The lane's own task queue: a worker process that dies takes one lane's loops with it, not both.
  const { watchPrimaries } = proxyActivities<HealthWatchActivities>({
    ...HEALTH_WATCH,
    taskQueue: watchLaneTaskQueue(input.taskQueue, input.lane),
  });
  let carried = input.carried ?? {};
  const { members, version } = await runShardLoop({
    members: input.members,
    version: input.version,
    changesPerRun: input.changesPerRun,
    changeSignal: watchChangeSignal,
    membersQuery: watcherMembersQuery,
    changeProblem: watchChangeProblem,
    run: (current, currentVersion) =>
      watchPrimaries({
        taskQueue: input.taskQueue,
        shard: input.shard,
        lane: input.lane,
        watcherWorkflowId: workflowInfo().workflowId,
        members: current,
        version: currentVersion,
        carried,
      }),
    finished: (result) => {
      carried = result.carried;
    },
  });
  // The next run's first loop compares against this version: it starts with it in its memo.
  return makeContinueAsNewFunc<typeof healthWatcherWorkflow>({ memo: { [MEMBERS_VERSION_MEMO]: version } })({
    ...input,
    members,
    version,
    carried,
  });
}
