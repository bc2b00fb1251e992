/**
 * healthWatcherWorkflow (id `health-watch:<taskQueue>:<shard>:<lane>`): holds one lane's members of one shard and
 * runs the lane's watch loop (activities/healthWatch.ts) for as long as it exists. Pairs join and leave with the
 * `watchChange` signal; the loop starts with the members it was scheduled with and reads changes with the `members`
 * query when the version in the workflow's memo moved. The whole membership is what continues
 * as new, when the server suggests it or after many changes.
 */
import {
  CancellationScope,
  condition,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  proxyActivities,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { HealthWatchActivities } from '../activities/healthWatch.js';
import {
  MEMBERS_VERSION_MEMO,
  type WatcherInput,
  type WatchedPrimary,
  watchChangeProblem,
  watchChangeSignal,
  watcherMembersQuery,
} from '../src/shared/healthWatch.js';
import { HEALTH_WATCH } from './profiles.js';

const { watchPrimaries } = proxyActivities<HealthWatchActivities>(HEALTH_WATCH);

/** Membership changes per run: each is a signal of about four history events. */
const CHANGES_PER_RUN = 1_000;

export async function healthWatcherWorkflow(input: WatcherInput): Promise<never> {
  const members: Record<string, WatchedPrimary> = { ...input.members };
  let version = input.version ?? 0;
  let carried = input.carried ?? {};
  let changes = 0;

  setHandler(watchChangeSignal, (change) => {
    const problem = watchChangeProblem(change);
    if (problem !== undefined) {
      log.warn(`health watcher ${workflowInfo().workflowId}: signal ignored: ${problem}`);
      return;
    }
    if (change.member) members[change.pairId] = change.member;
    else delete members[change.pairId];
    version += 1;
    changes += 1;
    // Read by the watch loop with a describe (no worker involved): it queries the members only when this moved.
    upsertMemo({ [MEMBERS_VERSION_MEMO]: version });
  });
  setHandler(watcherMembersQuery, (sinceVersion) =>
    sinceVersion === version ? { version } : { version, members: Object.values(members) },
  );

  const moveOn = (): boolean =>
    workflowInfo().continueAsNewSuggested || changes >= (input.changesPerRun ?? CHANGES_PER_RUN);
  while (!moveOn()) {
    const scope = new CancellationScope();
    const run = scope.run(() =>
      watchPrimaries({
        taskQueue: input.taskQueue,
        shard: input.shard,
        lane: input.lane,
        watcherWorkflowId: workflowInfo().workflowId,
        members: Object.values(members),
        version,
        carried,
      }),
    );
    let failed = false;
    const finished = await Promise.race([
      run.catch((error: unknown) => {
        failed = !isCancellation(error);
        if (failed) log.error('health watch loop failed; starting it again', { error: String(error) });
        return undefined;
      }),
      condition(moveOn).then(() => undefined),
    ]);
    if (finished) carried = finished.carried;
    else scope.cancel();
    // Only a non-retryable failure ends the activity for good: do not spin on it.
    if (failed) await sleep('1 second');
  }
  // The next run's first loop compares against this version: it starts with it in its memo.
  return makeContinueAsNewFunc<typeof healthWatcherWorkflow>({ memo: { [MEMBERS_VERSION_MEMO]: version } })({
    ...input,
    members,
    version,
    carried,
  });
}
