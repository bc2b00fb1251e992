/**
 * The retraining surface shared by the workflow, the TypeScript worker, the CLI and the tests: the Python
 * trainer's activity (registered by models/understudy_trainer/worker.py on the training task queue), its input
 * and result, and the schedule's id. No Node built-ins: workflow code imports this module.
 */

/** Input of the Python `trainModels` activity (field names as the trainer's JSON expects them). */
export interface TrainModelsInput {
  /** Folder of `timestamp,value` CSVs, one series per file (the file name without .csv is the series id). */
  dataDir: string;
  /** NAB-style anomaly windows JSON (`{"<folder>/<file>.csv": [[start, end], ...]}`), masked out of training. */
  labelsFile?: string;
  /** Where `prophet-v<N>/` and `lstm-v<N>/` are written; workers hot-reload from here. */
  artifactsDir: string;
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
