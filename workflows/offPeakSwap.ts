/**
 * offPeakSwapWorkflow: the action of each pair's off-peak Temporal Schedule. It only asks the pair to swap; the pair
 * decides (it skips the swap while paused or busy) and records the outcome in its state.
 */
import { getExternalWorkflowHandle } from '@temporalio/workflow';
import { offPeakSwapSignal, pairWorkflowId } from '../src/shared/pair.js';

export async function offPeakSwapWorkflow(pairId: string): Promise<void> {
  await getExternalWorkflowHandle(pairWorkflowId(pairId)).signal(offPeakSwapSignal);
}
