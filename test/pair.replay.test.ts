import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { forceSwapSignal, pairWorkflowId } from '../src/shared/pair.js';
import { PROJECT_ROOT } from '../src/stack/index.js';
import { createPairFixture, type PairFixture } from './helpers/pair.js';

// Determinism: the current workflow code must replay recorded histories exactly. The committed histories were
// recorded from real runs; a change to a workflow that would break running pairs fails here first. Set
// UNDERSTUDY_RECORD_HISTORIES=1 to record fresh ones (after a deliberate, versioned change).
const HISTORIES = join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

describe('replaying recorded histories', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('replay');
    await f.startWorker();
    await f.startPair();
    await f.waitForState((s) => s.counters.ticks >= 2, 'two ticks');
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
    const [swap, failover] = [childOf('swap'), childOf('failover')];
    const recorded = [
      { name: 'hostPair-swap-failover', workflowId: pair.workflowId, history: await pair.fetchHistory() },
      { name: 'swap-child', workflowId: swap.workflowId, history: await swap.fetchHistory() },
      { name: 'failover-child', workflowId: failover.workflowId, history: await failover.fetchHistory() },
    ];
    for (const { name, workflowId, history } of recorded) {
      expect(history.events?.length, name).toBeGreaterThan(10);
      // The workflow id matters: child ids and idempotency keys are derived from it.
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: inject('workflowBundlePath') } },
        history,
        workflowId,
      );
      if (process.env.UNDERSTUDY_RECORD_HISTORIES === '1') {
        const file = { workflowId, history: JSON.parse(historyToJSON(history)) as unknown };
        writeFileSync(join(HISTORIES, `${name}.json`), JSON.stringify(file));
      }
    }
  });

  it('replays every committed history', async () => {
    const files = readdirSync(HISTORIES).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const { workflowId, history } = JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) as {
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
