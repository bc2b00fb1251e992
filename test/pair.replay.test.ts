import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { shardOf, watcherWorkflowIds } from '../src/shared/healthWatch.js';
import { observerWorkflowId } from '../src/shared/observation.js';
import { forceSwapSignal, pairWorkflowId } from '../src/shared/pair.js';
import { HISTORIES_DIR, replayAndRecord } from './helpers/histories.js';
import { createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';

// Determinism: the current workflow code must replay recorded histories exactly. The committed histories were
// recorded from real runs (here, and in the fleet, rollout and scaling tests); a change to a workflow that would
// break running ones fails here first. Set UNDERSTUDY_RECORD_HISTORIES=1 to record fresh ones (after a deliberate,
// versioned change; docs/workflow-changes.md).

const RECORDED = [
  'hostPair-swap-failover',
  'swap-child',
  'failover-child',
  'scale-out-child',
  'scale-back-child',
  'fleet',
  'rollout-completed',
  'maintenance-drain',
  'health-watcher',
  'pair-observer',
];

describe('replaying recorded histories', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('replay');
    await f.startWorker();
    await f.startPair();
    await f.waitForState(isObserved, 'observed');
    await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).signal(forceSwapSignal, { reason: 'replay fixture' });
    await f.waitForState((s) => s.counters.swaps === 1 && s.phase === 'steady', 'a swap');
    // After the swap the fixture's shadow host is the primary: it is the one that fails.
    await f.sim.control.failHost(f.shadow.hostId);
    await f.waitForState((s) => s.counters.failovers === 1, 'a failover');
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('replays the history of a pair that swapped and failed over, and of its swap and failover children', async () => {
    const pair = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    const state = await f.state();
    const childOf = (kind: string) => {
      const id = state.recentActions.find((a) => a.kind === kind && a.outcome === 'succeeded')?.workflowId;
      expect(id, `a ${kind} child`).toBeDefined();
      return f.client.workflow.getHandle(id!);
    };
    await replayAndRecord('hostPair-swap-failover', pair);
    await replayAndRecord('swap-child', childOf('swap'));
    await replayAndRecord('failover-child', childOf('failover'));
    // The pair's shard watcher (lane a): the pair joined it, changed its primary by the swap, left it at the failover.
    await replayAndRecord('health-watcher', f.client.workflow.getHandle(watcherWorkflowIds(f.taskQueue, f.pairId)[0]!));
    // The pair's shard observer: the pair joined it and changed its entry at the swap and the failover.
    await replayAndRecord(
      'pair-observer',
      f.client.workflow.getHandle(observerWorkflowId(f.taskQueue, shardOf(f.pairId))),
    );
  });

  it('replays every committed history', async () => {
    const files = readdirSync(HISTORIES_DIR).filter((file) => file.endsWith('.json'));
    // The entity workflows (pair, fleet, rollout, maintenance, health watcher, observer) and every action child a
    // pair starts.
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...RECORDED].sort());
    for (const file of files) {
      const { workflowId, history } = JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        history: unknown;
      };
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: inject('workflowBundlePath') } },
        historyFromJSON(history),
        workflowId,
      );
    }
  });
});
