/**
 * Recorded workflow histories (test/fixtures/histories/): a test that has just run a workflow replays its history
 * through the current bundle here, and records it as a fixture when UNDERSTUDY_RECORD_HISTORIES=1. pair.replay.test.ts
 * replays every committed fixture (docs/workflow-changes.md).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { expect, inject } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

export const HISTORIES_DIR = join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

/** Replays the workflow's history as it stands (a running workflow's too) and records it when asked to. */
export async function replayAndRecord(name: string, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  expect(history.events?.length, name).toBeGreaterThan(5);
  // The workflow id matters: child ids and idempotency keys are derived from it.
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
    history,
    handle.workflowId,
  );
  if (process.env.UNDERSTUDY_RECORD_HISTORIES === '1') {
    const file = { workflowId: handle.workflowId, history: JSON.parse(historyToJSON(history)) as unknown };
    writeFileSync(join(HISTORIES_DIR, `${name}.json`), JSON.stringify(file));
  }
}
