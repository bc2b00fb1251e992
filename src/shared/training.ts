/**
 * The retraining surface shared by the workflow, the TypeScript worker, the CLI and the tests: the Python
 * trainer's activity (registered by models/understudy_trainer/worker.py on the training task queue), its input
 * and result, and the schedule's id. No Node built-ins: workflow code imports this module.
 */

/**
 * What to train on from InfluxDB 1.x: the Telegraf measurements (`cpu`, `mem`, `diskio`, `net`) of every host, or
 * of `hosts`, over the `days` before `until`. Series are named `<host>/<resource>`, as the forecaster asks for them.
 */
export interface InfluxTrainingSource {
  url: string;
  database: string;
  /** How much history (default 14 days). */
  days?: number;
  /** End of the window, ISO-8601 (default: now). */
  until?: string;
  hosts?: string[];
  /** Link speed for every host; without it `net` is not trained (Telegraf does not report it). */
  networkMbps?: number;
  /** Names of the environment variables that hold the credentials (the trainer reads them; never the secrets). */
  usernameEnv?: string;
  passwordEnv?: string;
}

/** Input of the Python `trainModels` activity (field names as the trainer's JSON expects them). */
export interface TrainModelsInput {
  /** Folder of `timestamp,value` CSVs, one series per file (the file name without .csv is the series id). */
  dataDir?: string;
  /** Train on InfluxDB instead of `dataDir` (what the retraining schedule does in production). */
  influx?: InfluxTrainingSource;
  /** NAB-style anomaly windows JSON (`{"<folder>/<file>.csv": [[start, end], ...]}`), masked out of training. */
  labelsFile?: string;
  /** Where `prophet-v<N>/` and `lstm-v<N>/` are written; workers hot-reload from here. */
  artifactsDir: string;
  /** Folders whose versions the new one numbers after (the shipped models), so the newest is the highest number. */
  numberAfter?: string[];
  fitFraction?: number;
  epochs?: number;
  only?: string[];
  limit?: number;
}

export interface TrainModelsResult {
  version: string;
  prophet: string;
  lstm: string;
  series: number;
  skipped: Record<string, string>;
  selected: Record<string, string>;
  median_validation_mase: Record<string, number>;
  seconds: number;
}

/** The Python worker's activities, as the workflow sees them. */
export interface TrainerActivities {
  trainModels(input: TrainModelsInput): Promise<TrainModelsResult>;
}

export interface RetrainModelsInput extends TrainModelsInput {
  /** Task queue of the Python trainer (default `understudy-training`; tests use their own). */
  trainingTaskQueue?: string;
}

/** Id of the Temporal Schedule that starts `retrainModelsWorkflow`. */
export const RETRAIN_SCHEDULE_ID = 'understudy-retrain-models';
