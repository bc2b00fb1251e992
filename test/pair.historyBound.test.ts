import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairWorkflowId } from '../src/shared/pair.js';
import { createPairFixture, type PairFixture } from './helpers/pair.js';

// A run's history is what a worker replays before the pair checks its primary again (after a restart or a cache
// eviction), so its length is bounded by events, not only by loop iterations.
describe('hostPairWorkflow history per run', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('history-bound');
    await f.startWorker();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('continues as new once a run holds its bound of history events, whatever the iteration count', async () => {
    const bound = 80;
    const handle = await f.startPair({ historyEventsPerRun: bound, iterationsPerRun: 100_000 });
    const after = await f.waitForState((s) => s.counters.runs >= 2, 'a continue-as-new', 60_000);
    expect(after.phase).toBe('steady');
    const first = await f.client.workflow
      .getHandle(pairWorkflowId(f.pairId), handle.firstExecutionRunId)
      .fetchHistory();
    const events = first.events ?? [];
    expect(
      events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes,
      'the first run continued as new',
    ).toBeDefined();
    // The bound is looked at once per loop iteration, so a run ends within one iteration's events past it.
    expect(events.length).toBeGreaterThanOrEqual(bound);
    expect(events.length).toBeLessThan(bound + 40);
  }, 120_000);
});
