/**
 * retrainModelsWorkflow: runs the Python trainer (an activity of the Python worker on the training task queue),
 * then has a TypeScript worker reload the model folder so the new version serves forecasts at once (every other
 * worker picks it up at its next poll). Started by a Temporal Schedule (`RETRAIN_SCHEDULE_ID`) or by hand.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ForecastingActivities } from '../activities/forecasting.js';
import { FailureType } from '../src/shared/failures.js';
import { TRAINING_TASK_QUEUE } from '../src/shared/temporal.js';
import type { RetrainModelsInput, TrainerActivities, TrainModelsResult } from '../src/shared/training.js';

/** Training takes minutes: a long start-to-close, a heartbeat to notice a dead trainer, one retry. */
const TRAINING_CALL: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: [FailureType.InvalidInput] },
};

const { reloadForecastModels } = proxyActivities<ForecastingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

export interface RetrainModelsResult {
  trained: TrainModelsResult;
  loaded: Awaited<ReturnType<ForecastingActivities['reloadForecastModels']>>;
}

export async function retrainModelsWorkflow(input: RetrainModelsInput): Promise<RetrainModelsResult> {
  const { trainingTaskQueue, ...trainInput } = input;
  const { trainModels } = proxyActivities<TrainerActivities>({
    ...TRAINING_CALL,
    taskQueue: trainingTaskQueue ?? TRAINING_TASK_QUEUE,
  });
  const trained = await trainModels(trainInput);
  const loaded = await reloadForecastModels();
  return { trained, loaded };
}
