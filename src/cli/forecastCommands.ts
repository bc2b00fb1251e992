/**
 * The forecasting commands of `understudy`: `train`, `forecast` and `backtest`. main.ts hands them the raw
 * arguments (they take options of their own); each prints one clear line on a bad request and exits 1.
 */
import { afterConfigOption } from './argv.js';
import { exitWithError, isArgumentError } from './exit.js';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config/load.js';
import { backtestCsv, formatReport, parseHorizons } from '../forecast/backtest.js';
import { createForecaster } from '../forecast/forecaster.js';
import { ModelArtifactError } from '../forecast/onnxModel.js';
import { DEFAULT_RETRAIN_DAYS } from '../forecast/retraining.js';
import { parseCsv } from '../forecast/series.js';
import { resourceOfSeries } from '../forecast/seriesResources.js';
import {
  ensureRetrainSchedule,
  modelFolders,
  startTrainerWorker,
  TrainerError,
  trainedModelsTarget,
  trainModels,
} from '../forecast/trainer.js';
import { ForecastInputError, RESOURCES, type Resource } from '../forecast/types.js';
import type { InfluxTrainingSource } from '../shared/training.js';
import { NAB_DIR, stackPaths } from '../stack/paths.js';
import { temporalConnectionOptions } from '../temporalConnection.js';

export const FORECAST_COMMANDS = ['train', 'forecast', 'backtest'] as const;

export const FORECAST_USAGE = `  train         train Prophet + LSTM on a folder of CSVs into a new model version
                  [--data-dir DIR] [--labels FILE] [--epochs N] [--fit-fraction F]
                  [--artifacts DIR]  (default: the state folder's models/, which the worker loads beside the
                      shipped models/artifacts, numbered after them)
                  [--influx [--days 77] [--until ISO] [--hosts H,H] [--network-mbps N]]  on the Telegraf
                      metrics in the configured InfluxDB 1.x instead (window ends at the newest sample)
                  [--schedule CRON | --every MINUTES]  create the Temporal Schedule of retrainModelsWorkflow instead
                  [--worker]  run the Python trainer's Temporal worker (task queue understudy-training)
  forecast      forecast a timestamp,value CSV with the models the worker loads (or those in --artifacts DIR)
                  --csv FILE [--series ID] [--resource cpu|mem|diskio|net (default: from the name)] [--horizon 60m] [--json]
  backtest      train on the first 70% of a CSV, forecast from every point of the last 30%
                  --csv FILE [--horizon 15m,1h] [--out DIR] [--plot DIR] [--epochs N] [--json]`;

class CommandError extends Error {}

/** The command name when `argv` asks for a forecasting command (after an optional `--config FILE`). */
export function forecastCommandOf(argv: string[]): (typeof FORECAST_COMMANDS)[number] | undefined {
  const first = afterConfigOption(argv)[0];
  return FORECAST_COMMANDS.find((c) => c === first);
}

const print = (line = ''): void => void process.stdout.write(`${line}\n`);

export async function runForecastCommand(argv: string[]): Promise<void> {
  try {
    await dispatch(argv);
  } catch (error) {
    exitWithError(error, {
      expected:
        error instanceof CommandError ||
        error instanceof ForecastInputError ||
        error instanceof TrainerError ||
        error instanceof ModelArtifactError ||
        isArgumentError(error),
      code: 1,
    });
  }
}

async function dispatch(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      csv: { type: 'string' },
      horizon: { type: 'string' },
      out: { type: 'string' },
      plot: { type: 'string' },
      epochs: { type: 'string' },
      json: { type: 'boolean' },
      series: { type: 'string' },
      resource: { type: 'string' },
      'data-dir': { type: 'string' },
      labels: { type: 'string' },
      artifacts: { type: 'string' },
      'fit-fraction': { type: 'string' },
      schedule: { type: 'string' },
      every: { type: 'string' },
      worker: { type: 'boolean' },
      influx: { type: 'boolean' },
      days: { type: 'string' },
      until: { type: 'string' },
      hosts: { type: 'string' },
      'network-mbps': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new CommandError(`unexpected argument "${extra[0]}" after "${command}"`);
  const loaded = loadConfig(values.config);
  const python = stackPaths(loaded.config).venvPython;
  const number = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new CommandError(`--${name} must be a positive number, got "${v}"`);
    return n;
  };
  const horizons = (spec: string): number[] => {
    try {
      return parseHorizons(spec);
    } catch (error) {
      throw new CommandError((error as Error).message);
    }
  };

  if (command === 'backtest') {
    if (!values.csv) throw new CommandError('backtest needs --csv FILE');
    const report = await backtestCsv({
      csv: resolve(values.csv),
      horizons: horizons(values.horizon ?? '15m,1h'),
      outDir: resolve(values.out ?? 'backtest'),
      ...(values.plot ? { plotDir: resolve(values.plot) } : {}),
      python,
      epochs: number('epochs', values.epochs),
    });
    print(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return;
  }

  if (command === 'forecast') {
    if (!values.csv) throw new CommandError('forecast needs --csv FILE');
    const file = resolve(values.csv);
    const text = await readFile(file, 'utf8').catch((e: Error) => {
      throw new CommandError(`${file}: ${e.message}`);
    });
    const history = parseCsv(text, file);
    const seriesId = values.series ?? basename(file).replace(/\.csv$/i, '');
    // Without --resource, the series' name says which it measures (models/series_resources.json).
    const resource = (values.resource ?? resourceOfSeries(seriesId)) as Resource;
    if (!RESOURCES.includes(resource)) throw new CommandError(`--resource must be one of ${RESOURCES.join(', ')}`);
    const [horizon] = horizons(values.horizon ?? '60m').slice(-1);
    const forecaster = await createForecaster({
      artifactsDir: values.artifacts ? resolve(values.artifacts) : modelFolders(loaded.config),
      pollIntervalMs: 0,
    });
    try {
      const last = Math.max(...history.timestamps);
      const result = await forecaster.forecast({
        seriesId,
        hostId: seriesId,
        resource,
        history,
        horizonMinutes: horizon!,
        // A CSV is a recording: "now" is just after its last sample.
        now: last + 60_000,
      });
      if (values.json) {
        print(JSON.stringify(result, null, 2));
        return;
      }
      print(`forecast of ${seriesId} (${resource}) by ${result.model} v${result.modelVersion}, 80% interval:`);
      for (const p of result.points) {
        print(
          `  ${new Date(p.timestamp).toISOString()}  ${p.yhat.toFixed(3).padStart(12)}  [${p.lower.toFixed(3)}, ${p.upper.toFixed(3)}]`,
        );
      }
      for (const w of result.warnings) print(`warning: ${w}`);
    } finally {
      await forecaster.close();
    }
    return;
  }

  // train
  if (values.influx && values['data-dir']) throw new CommandError('give --data-dir or --influx, not both');
  const influxSource = (): InfluxTrainingSource | undefined => {
    if (!values.influx) return undefined;
    const influx = loaded.config.influx;
    if (influx.version !== 1) throw new CommandError('--influx reads InfluxDB 1.x (/query); the configuration has 2');
    return {
      url: influx.url,
      database: influx.database,
      usernameEnv: influx.usernameEnv,
      passwordEnv: influx.passwordEnv,
      days: number('days', values.days) ?? DEFAULT_RETRAIN_DAYS,
      until: values.until,
      hosts: values.hosts?.split(',').filter(Boolean),
      networkMbps: number('network-mbps', values['network-mbps']),
    };
  };
  const influx = influxSource();
  const input = {
    dataDir: influx ? undefined : resolve(values['data-dir'] ?? join(NAB_DIR, 'realAWSCloudwatch')),
    influx,
    labelsFile: values.labels
      ? resolve(values.labels)
      : values['data-dir'] || influx
        ? undefined
        : join(NAB_DIR, 'labels', 'combined_windows.json'),
    ...(values.artifacts ? { artifactsDir: resolve(values.artifacts) } : trainedModelsTarget(loaded.config)),
    epochs: number('epochs', values.epochs),
    fitFraction: number('fit-fraction', values['fit-fraction']),
  };
  if (values.worker) {
    const worker = await startTrainerWorker({
      python,
      address: loaded.config.temporal.address,
      namespace: loaded.config.temporal.namespace,
    });
    print('understudy: trainer worker running (Ctrl-C to stop)');
    process.once('SIGINT', () => void worker.stop());
    await new Promise((done) => worker.child.once('exit', done));
    return;
  }
  if (values.schedule !== undefined || values.every !== undefined) {
    const connection = await Connection.connect({ ...temporalConnectionOptions(loaded), connectTimeout: 5_000 });
    try {
      const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
      const handle = await ensureRetrainSchedule(client, {
        input,
        cron: values.schedule,
        everyMinutes: number('every', values.every),
      });
      print(
        `understudy: schedule ${handle.scheduleId} starts retrainModelsWorkflow (${values.schedule ?? `every ${values.every} min`})`,
      );
    } finally {
      await connection.close();
    }
    return;
  }
  const from = influx ? `InfluxDB ${influx.url} database ${influx.database}` : input.dataDir;
  print(`understudy: training on ${from} into ${input.artifactsDir}…`);
  const summary = await trainModels({ python, ...input, onLog: (line) => process.stderr.write(`  ${line}\n`) });
  print(JSON.stringify(summary, null, 2));
}
