/**
 * The loop every shard workflow (a health watcher lane, an observer) runs: it holds the shard's members, takes
 * joins and leaves by signal, answers its members by query (and keeps their version in its memo, so its activity
 * reads them only when they moved), and runs its one long-lived activity again whenever it returns or fails, until
 * the run has taken enough changes to continue as new.
 */
import {
  CancellationScope,
  type QueryDefinition,
  type SignalDefinition,
  condition,
  isCancellation,
  log,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { MEMBERS_VERSION_MEMO } from '../src/shared/healthWatch.js';

/** Membership changes per run: each is a signal of about four history events. */
const CHANGES_PER_RUN = 1_000;

export interface ShardLoop<M, R> {
  members?: Record<string, M>;
  version?: number;
  changesPerRun?: number;
  changeSignal: SignalDefinition<[{ pairId: string; member?: M }]>;
  membersQuery: QueryDefinition<{ version: number; members?: M[] }, [number?]>;
  /** Why a change cannot be taken (signals cannot be refused: it is dropped with a warning), or undefined. */
  changeProblem: (change: unknown) => string | undefined;
  /** The shard's activity, given the members and their version as they are when it is scheduled. */
  run: (members: M[], version: number) => Promise<R>;
  /** What a run that returned hands to the next one. */
  finished: (result: R) => void;
}

/** Runs the shard until it should continue as new; returns the members and version to continue with. */
export async function runShardLoop<M, R>(
  loop: ShardLoop<M, R>,
): Promise<{ members: Record<string, M>; version: number }> {
  const members: Record<string, M> = { ...loop.members };
  let version = loop.version ?? 0;
  let changes = 0;

  setHandler(loop.changeSignal, (change) => {
    const problem = loop.changeProblem(change);
    if (problem !== undefined) {
      log.warn(`${workflowInfo().workflowId}: signal ignored: ${problem}`);
      return;
    }
    if (change.member) members[change.pairId] = change.member;
    else delete members[change.pairId];
    version += 1;
    changes += 1;
    // Read by the activity with a describe (no worker involved): it queries the members only when this moved.
    upsertMemo({ [MEMBERS_VERSION_MEMO]: version });
  });
  setHandler(loop.membersQuery, (sinceVersion) =>
    sinceVersion === version ? { version } : { version, members: Object.values(members) },
  );

  const moveOn = (): boolean =>
    workflowInfo().continueAsNewSuggested || changes >= (loop.changesPerRun ?? CHANGES_PER_RUN);
  while (!moveOn()) {
    const scope = new CancellationScope();
    const run = scope.run(() => loop.run(Object.values(members), version));
    let failed = false;
    const finished = await Promise.race([
      run.catch((error: unknown) => {
        failed = !isCancellation(error);
        if (failed) log.error('shard loop failed; starting it again', { error: String(error) });
        return undefined;
      }),
      condition(moveOn).then(() => undefined),
    ]);
    if (finished) loop.finished(finished);
    else scope.cancel();
    // Only a non-retryable failure ends the activity for good: do not spin on it.
    if (failed) await sleep('1 second');
  }
  return { members, version };
}
