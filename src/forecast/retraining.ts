/**
 * Retraining while Understudy runs (`understudy up`): the Python trainer's Temporal worker on the training task
 * queue, and the Temporal Schedule that starts `retrainModelsWorkflow` on the Telegraf metrics in InfluxDB. Neither
 * may hold up or break the rest: a trainer that cannot start is reported and the schedule stays paused, so no
 * scheduled run waits on a task queue nobody polls.
 */
import type { Client } from '@temporalio/client';
import type { UnderstudyConfig } from '../config/schema.js';
import type { RetrainModelsInput } from '../shared/training.js';
import { ensureRetrainSchedule, startTrainerWorker, trainedModelsTarget, type TrainerWorker } from './trainer.js';

/** Daily, at a quiet hour (UTC). */
export const DEFAULT_RETRAIN_CRON = '0 3 * * *';
/**
 * Eleven weeks. Prophet fits a monthly term once its data holds two cycles (61 days); it is validated after a fit on
 * the window's first 80%, which then holds 61.6 days. The LSTM learns from each host's last two weeks of it
 * (`LSTM_TRAIN_DAYS` in models/understudy_trainer/train.py), so its training time does not grow with the window.
 */
export const DEFAULT_RETRAIN_DAYS = 77;

export interface Retraining {
  /** Why the trainer or the schedule is not running, when it is not. */
  problems: string[];
  scheduleId?: string;
  /** Pauses the schedule (no trainer will poll) and stops the trainer worker. */
  stop(): Promise<void>;
}

/**
 * The input the schedule trains on: the configured InfluxDB, the last eleven weeks, into the state folder's trained
 * models (numbered after the shipped ones), or into `artifactsDir`.
 */
export function retrainInput(config: UnderstudyConfig, artifactsDir?: string): RetrainModelsInput | string {
  const influx = config.influx;
  if (influx.version !== 1) {
    return 'the trainer reads InfluxDB 1.x (/query); with influx.version 2 retrain with `understudy train --data-dir`';
  }
  return {
    ...(artifactsDir !== undefined ? { artifactsDir } : trainedModelsTarget(config)),
    influx: {
      url: influx.url,
      database: influx.database,
      days: DEFAULT_RETRAIN_DAYS,
      usernameEnv: influx.usernameEnv,
      passwordEnv: influx.passwordEnv,
    },
  };
}

export async function startRetraining(options: {
  client: Client;
  config: UnderstudyConfig;
  python: string;
  cron?: string;
  artifactsDir?: string;
  /** Tests run their own trainer and schedule beside a running Understudy. */
  scheduleId?: string;
  trainingTaskQueue?: string;
}): Promise<Retraining> {
  const { client, config } = options;
  const problems: string[] = [];
  let trainer: TrainerWorker | undefined;
  if (config.temporal.tls || process.env[config.temporal.apiKeyEnv]) {
    problems.push('the Python trainer worker connects without TLS or an API key; start it where it can reach Temporal');
  } else {
    trainer = await startTrainerWorker({
      python: options.python,
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      taskQueue: options.trainingTaskQueue,
    }).catch((error: Error) => {
      problems.push(`the trainer worker did not start: ${error.message}`);
      return undefined;
    });
  }
  const input = retrainInput(config, options.artifactsDir);
  let scheduleId: string | undefined;
  if (typeof input === 'string') {
    problems.push(input);
  } else {
    try {
      const handle = await ensureRetrainSchedule(client, {
        input: { ...input, trainingTaskQueue: options.trainingTaskQueue },
        scheduleId: options.scheduleId,
        cron: options.cron ?? DEFAULT_RETRAIN_CRON,
        paused: trainer === undefined,
      });
      // The schedule outlives this process; it runs only while a trainer polls.
      if (trainer) await handle.unpause('understudy up: the trainer worker is running');
      else await handle.pause('understudy up: no trainer worker');
      scheduleId = handle.scheduleId;
    } catch (error) {
      problems.push(`the retrain schedule could not be created: ${(error as Error).message}`);
    }
  }
  return {
    problems,
    scheduleId,
    async stop() {
      if (scheduleId) {
        await client.schedule
          .getHandle(scheduleId)
          .pause('understudy stopped: no trainer worker polls')
          .catch(() => undefined);
      }
      await trainer?.stop();
    },
  };
}
