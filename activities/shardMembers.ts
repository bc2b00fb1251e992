/**
 * How a shard's long-running activity (a health watcher lane, an observer) keeps up with its members: a describe,
 * answered by the server alone, tells whether the version in the shard workflow's memo moved; only then does a
 * query, which a worker answers, read the members.
 */
import { log } from '@temporalio/activity';
import { isGrpcCancelledError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import { MEMBERS_VERSION_MEMO } from '../src/shared/healthWatch.js';
import { messageOf } from '../src/shared/failures.js';
import { pairWorkflowId } from '../src/shared/pair.js';

export interface ShardMemberReader<M> {
  /** The members when they changed since the last read (or on the first read), otherwise undefined. */
  changed(): Promise<M[] | undefined>;
}

/** `version`: the version of the members the activity was scheduled with; absent, the first read reads them all. */
export function shardMemberReader<M>(
  temporal: Client,
  workflowId: string,
  query: QueryDefinition<{ version: number; members?: M[] }, [number?]>,
  version: number | undefined,
): ShardMemberReader<M> {
  const handle = temporal.workflow.getHandle(workflowId);
  return {
    async changed() {
      try {
        const described = await handle.describe();
        if (version !== undefined && described.memo?.[MEMBERS_VERSION_MEMO] === version) return undefined;
        const answer = await handle.query(query, version);
        version = answer.version;
        return answer.members;
      } catch (error) {
        // Cancelled: the activity is ending, and has no use for them.
        if (isGrpcCancelledError(error)) return undefined;
        // A worker that died holding the shard workflow delays queries to it: go on with the members known.
        log.warn('could not read the shard members; going on with the ones known', {
          workflowId,
          error: messageOf(error),
        });
        return undefined;
      }
    },
  };
}

/** How long an ending activity waits for its background calls once it has cancelled them. */
const SETTLE_LIMIT_MS = 30_000;

export interface BackgroundCalls {
  /** Starts `call` (Temporal client calls inside it carry the activity's abort signal) and keeps it until it ends. */
  start<T>(call: () => Promise<T>): Promise<T>;
  /** Starts `call` like `start`, without keeping it: work that may never end has its calls cancelled, not awaited. */
  startUnkept<T>(call: () => Promise<T>): Promise<T>;
  /** Cancels the calls on their way and waits until the kept ones end, for at most the limit. */
  settle(): Promise<void>;
}

/**
 * The Temporal client calls a long-running activity makes beside its loop, to be settled when it ends, however it
 * ends: a call left running past the activity may still be retrying when the worker's owner closes the client's
 * connection, and its retry then throws "Channel has been shut down" where nothing can catch it.
 */
export function backgroundCalls(temporal: Client, settleLimitMs = SETTLE_LIMIT_MS): BackgroundCalls {
  const controller = new AbortController();
  const pending = new Set<Promise<unknown>>();
  // The client cancels a call when the signal aborts, which an aborted signal no longer does: refuse instead.
  const startCancellable = <T>(call: () => Promise<T>): Promise<T> =>
    controller.signal.aborted
      ? Promise.reject(new Error('call cancelled: the activity is ending'))
      : temporal.withAbortSignal(controller.signal, call);
  return {
    start(call) {
      const started = startCancellable(call);
      pending.add(started);
      const forget = () => pending.delete(started);
      started.then(forget, forget);
      return started;
    },
    startUnkept: startCancellable,
    async settle() {
      controller.abort();
      if (pending.size === 0) return;
      let limit: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((resolve) => (limit = setTimeout(resolve, settleLimitMs))),
      ]);
      clearTimeout(limit);
    },
  };
}

/**
 * Reads of a shard's members beside an activity's loop, one at a time, taken between two rounds. A read queries the
 * shard workflow, which a burst of enrolments keeps busy for longer than the heartbeat timeout: awaited, it held the
 * loop and its heartbeats, and each attempt timed out and began again (bench:failover, 10,000 pairs enrolling).
 */
export function membersInBackground<M>(reader: ShardMemberReader<M>, calls: BackgroundCalls) {
  let reading: Promise<void> | undefined;
  let read: M[] | undefined;
  return {
    /** Starts a read, unless one is on its way. */
    refresh(): void {
      reading ??= calls
        .start(() => reader.changed())
        .then(
          (members) => {
            if (members) read = members;
          },
          // Cancelled as the activity ends: there is nothing left to read them for.
          () => undefined,
        )
        .finally(() => {
          reading = undefined;
        });
    },
    /** The members a read found changed since the last take, once. */
    take(): M[] | undefined {
      const members = read;
      read = undefined;
      return members;
    },
    /** `sleep`, cut short when the read on its way ends (so the loop takes its members at once). */
    wait(sleep: Promise<void>): Promise<void> {
      return reading ? Promise.race([sleep, reading]) : sleep;
    },
  };
}

/**
 * Whether the pair's workflow still runs (a member whose host is gone may belong to a pair that ended); an error other
 * than "not found" counts as running, so a member is never dropped on a failed look.
 */
export function pairStillRunning(temporal: Client, pairId: string): Promise<boolean> {
  return temporal.workflow
    .getHandle(pairWorkflowId(pairId))
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch((error: unknown) => !(error instanceof WorkflowNotFoundError));
}

/** `items` in runs of at most `size`: a shard's host ids travel in requests of bounded length. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
