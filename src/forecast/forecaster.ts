/**
 * The ONNX-backed Forecaster the worker's activities call. Concurrent `forecast` calls are gathered by a
 * micro-batcher into one ONNX run per model; each series gets the model the trainer's validation picked for it
 * (or the best global model for a series it never saw), and falls back along the ranking (down to the
 * TypeScript baselines, which need no artifact) when that model is missing, stale, corrupt or cannot take the
 * request, with a warning saying why. New model versions are picked up by polling the artifacts folder.
 */
import { BASELINES, baselineEligible, baselineForecast, Z_80, type BaselineName } from './baselines.js';
import type { EngineOutput } from './engines.js';
import { MicroBatcher } from './microBatcher.js';
import { ModelRegistry, preferredModel, rankModels, tableFor } from './registry.js';
import { checkHistory, filledTail, gridTime, regularise, sampleAt, STEP_MS, type Grid } from './series.js';
import {
  ForecastInputError,
  RESOURCES,
  type ForecastInputErrorInfo,
  type ForecastPoint,
  type ForecastRequest,
  type ForecastResult,
  type Forecaster,
  type ModelName,
  type ModelVersionInfo,
  type Resource,
} from './types.js';

export const MAX_HORIZON_MINUTES = 24 * 60;
/** A Prophet fit forecasting further than this past its training data is stale (its trend has drifted). */
export const DEFAULT_STALE_AFTER_MS = 7 * 24 * 3_600_000;
/** Samples of history the forecaster reads at most (a day for seasonal-naive plus a day for its interval). */
const HISTORY_STEPS = 2 * 288;

export interface ForecasterOptions {
  /** Model folders, in order: the shipped models, then those trained here (see ModelRegistry). */
  artifactsDir: string | readonly string[];
  /** How often to look for new model versions; 0 disables polling (call `reload()`). Default 30 s. */
  pollIntervalMs?: number;
  staleAfterMs?: number;
  maxBatch?: number;
  maxDelayMs?: number;
  clock?: () => number;
  log?: (message: string) => void;
  /** Try this model first for every series, whatever the validation chose (operator override, benchmarks). */
  preferModel?: ModelName;
}

/** A request after validation and cleaning. */
export interface PreparedRequest {
  request: ForecastRequest;
  seriesId: string;
  steps: number;
  grid: Grid;
  /** Last HISTORY_STEPS grid values, gaps filled. */
  tail: Float64Array;
  origin: number;
  warnings: string[];
}

export function prepareRequest(request: ForecastRequest, now: number): PreparedRequest {
  const seriesId = request.seriesId ?? `${request.hostId}/${request.resource}`;
  if (!RESOURCES.includes(request.resource)) {
    throw new ForecastInputError(seriesId, `unknown resource ${String(request.resource)}`);
  }
  const h = request.horizonMinutes;
  if (typeof h !== 'number' || !Number.isFinite(h) || h <= 0 || h > MAX_HORIZON_MINUTES) {
    throw new ForecastInputError(seriesId, `horizonMinutes must be in (0, ${MAX_HORIZON_MINUTES}], got ${String(h)}`);
  }
  const history = checkHistory(seriesId, request.history, { now: request.now ?? now });
  const grid = regularise(history);
  const warnings: string[] = [];
  const { values: tail, filled } = filledTail(grid, HISTORY_STEPS);
  if (filled > 0) warnings.push(`${filled} missing samples in the last ${tail.length} were interpolated`);
  return {
    request,
    seriesId,
    steps: Math.ceil(h / 5),
    grid,
    tail,
    origin: gridTime(grid, grid.values.length - 1),
    warnings,
  };
}

function points(origin: number, out: EngineOutput, steps: number): ForecastPoint[] {
  return Array.from({ length: steps }, (_, i) => ({
    timestamp: origin + (i + 1) * STEP_MS,
    yhat: out.yhat[i]!,
    lower: Math.max(0, Math.min(out.lower[i]!, out.yhat[i]!)),
    upper: Math.max(out.upper[i]!, out.yhat[i]!),
  }));
}

/** One day of five-minute steps: the season of seasonal-naive. */
const SEASON_STEPS = 288;

/**
 * Whether, on the series' own history, yesterday's value predicts each step better than the value `horizonSteps`
 * earlier does, by a clear margin (20% lower mean absolute error over the last day it can check). Needs more than
 * a season of history; a barely seasonal series keeps the global default.
 */
export function clearlySeasonal(history: Float64Array, horizonSteps: number): boolean {
  const checked = Math.min(history.length - SEASON_STEPS, SEASON_STEPS);
  if (checked < 12 || horizonSteps >= SEASON_STEPS) return false;
  let seasonalError = 0;
  let persistenceError = 0;
  for (let t = history.length - checked; t < history.length; t++) {
    seasonalError += Math.abs(history[t]! - history[t - SEASON_STEPS]!);
    persistenceError += Math.abs(history[t]! - history[Math.max(0, t - horizonSteps)]!);
  }
  return seasonalError < 0.8 * persistenceError;
}

export class OnnxForecaster implements Forecaster {
  readonly registry: ModelRegistry;
  readonly batcher: MicroBatcher<ForecastRequest, ForecastResult>;
  private readonly clock: () => number;
  private readonly staleAfterMs: number;
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly options: ForecasterOptions) {
    this.registry = new ModelRegistry(options.artifactsDir, options.log);
    this.clock = options.clock ?? Date.now;
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.batcher = new MicroBatcher(async (items) => this.run(items), {
      maxBatch: options.maxBatch,
      maxDelayMs: options.maxDelayMs,
    });
  }

  async start(): Promise<this> {
    await this.registry.reload();
    const every = this.options.pollIntervalMs ?? 30_000;
    if (every > 0) {
      this.poller = setInterval(() => void this.registry.reload().catch(() => undefined), every);
      this.poller.unref();
    }
    return this;
  }

  forecast(request: ForecastRequest): Promise<ForecastResult> {
    return this.batcher.submit(request);
  }

  async forecastMany(requests: ForecastRequest[]): Promise<(ForecastResult | ForecastInputErrorInfo)[]> {
    const results = await this.run(requests);
    return results.map((r, i) =>
      r instanceof Error
        ? { error: r.message, seriesId: requests[i]!.seriesId ?? `${requests[i]!.hostId}/${requests[i]!.resource}` }
        : r,
    );
  }

  reload(): Promise<ModelVersionInfo[]> {
    return this.registry.reload();
  }

  models(): ModelVersionInfo[] {
    return this.registry.info();
  }

  async close(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    await this.registry.close();
  }

  /**
   * The models to try for a series, best first: its validated choice; for a series the selector never saw (a new
   * host), seasonal-naive when its own history shows it tracks the series clearly better than persistence does;
   * then the global ranking.
   */
  candidates(seriesId: string, horizonMinutes: number, history?: Float64Array): ModelName[] {
    const table = tableFor(this.registry.selection(), horizonMinutes);
    const ranked = rankModels(table);
    const unseen = table.selected[seriesId] === undefined;
    const seasonal =
      unseen && history !== undefined && clearlySeasonal(history, Math.max(1, Math.round(horizonMinutes / 5)));
    const preferred = this.options.preferModel ?? (seasonal ? 'seasonal_naive' : preferredModel(seriesId, table));
    return [preferred, ...ranked.filter((m) => m !== preferred), 'short_mean'];
  }

  /** Why `model` cannot serve `p`, or undefined when it can. */
  unusable(model: ModelName, p: PreparedRequest): string | undefined {
    const length = p.grid.values.length;
    if (model === 'prophet') {
      const engine = this.registry.prophet;
      if (!engine) return `no Prophet model is loaded (${this.registry.problems.get('prophet') ?? 'none found'})`;
      if (!engine.seriesIndex.has(p.seriesId)) return `Prophet v${engine.version} was not fitted on this series`;
      const end = engine.trainEnd.get(p.seriesId);
      if (end !== undefined && p.origin - end > this.staleAfterMs) {
        return `Prophet v${engine.version} is stale for this series (trained up to ${new Date(end).toISOString()})`;
      }
      return undefined;
    }
    if (model === 'lstm') {
      const engine = this.registry.lstm;
      if (!engine) return `no LSTM model is loaded (${this.registry.problems.get('lstm') ?? 'none found'})`;
      if (p.steps > engine.horizonSteps) return `the LSTM forecasts at most ${engine.horizonSteps * 5} minutes`;
      if (length < engine.windowSteps) return `the LSTM needs ${engine.windowSteps} samples, the history has ${length}`;
      if (!engine.resources.includes(p.request.resource)) return `the LSTM has no ${p.request.resource} channel`;
      return undefined;
    }
    return baselineEligible(model, length, p.steps)
      ? undefined
      : `${model} needs ${model === 'seasonal_naive' ? 'a day of history' : 'history'} (got ${length} samples)`;
  }

  /** Validates, assigns models, runs one ONNX batch per model, falls back per item on failure. */
  async run(requests: ForecastRequest[]): Promise<(ForecastResult | Error)[]> {
    const now = this.clock();
    const results: (ForecastResult | Error | undefined)[] = new Array<undefined>(requests.length);
    const groups: Record<'prophet' | 'lstm', { i: number; p: PreparedRequest }[]> = { prophet: [], lstm: [] };
    const prepared: (PreparedRequest | undefined)[] = [];
    const chains: ModelName[][] = [];
    requests.forEach((request, i) => {
      try {
        const p = prepareRequest(request, now);
        prepared[i] = p;
        const chain = this.candidates(p.seriesId, p.request.horizonMinutes, p.tail);
        const usable: ModelName[] = [];
        for (const m of chain) {
          const why = this.unusable(m, p);
          if (why === undefined) usable.push(m);
          else if (usable.length === 0 && m === chain[0]) p.warnings.push(`${m} not used: ${why}`);
        }
        chains[i] = usable;
        const first = usable[0]!;
        if (first === 'prophet' || first === 'lstm') groups[first].push({ i, p });
        else results[i] = this.baseline(first, p);
      } catch (error) {
        results[i] = error instanceof Error ? error : new Error(String(error));
      }
    });
    const finish = (model: 'prophet' | 'lstm', items: { i: number; p: PreparedRequest }[], outs: EngineOutput[]) =>
      items.forEach(({ i, p }, k) => {
        const engine = this.registry[model]!;
        results[i] = this.result(p, model, engine.version, points(p.origin, outs[k]!, p.steps));
      });
    const fallBack = (model: 'prophet' | 'lstm', items: { i: number; p: PreparedRequest }[], error: unknown) => {
      this.options.log?.(`forecaster: WARNING ${model} failed on a batch of ${items.length}: ${String(error)}`);
      for (const { i, p } of items) {
        p.warnings.push(`${model} failed: ${(error as Error).message}`);
        const next = chains[i]!.find((m): m is BaselineName => (BASELINES as string[]).includes(m)) ?? 'short_mean';
        results[i] = this.baseline(next, p);
      }
    };
    const prophet = this.registry.prophet;
    const lstm = this.registry.lstm;
    await Promise.all([
      groups.prophet.length > 0 && prophet
        ? prophet
            .forecast(
              groups.prophet.map(({ p }) => ({
                series: prophet.seriesIndex.get(p.seriesId)!,
                origin: p.origin,
                steps: p.steps,
                recent: p.tail,
              })),
            )
            .then(
              (outs) => finish('prophet', groups.prophet, outs),
              (error: unknown) => fallBack('prophet', groups.prophet, error),
            )
        : undefined,
      groups.lstm.length > 0 && lstm
        ? lstm.score(groups.lstm.map(({ p }) => this.lstmRow(p, lstm.windowSteps))).then(
            (outs) => finish('lstm', groups.lstm, outs),
            (error: unknown) => fallBack('lstm', groups.lstm, error),
          )
        : undefined,
    ]);
    return results.map((r) => r ?? new Error('internal: no result'));
  }

  private lstmRow(p: PreparedRequest, window: number) {
    const times = Array.from({ length: window }, (_, s) => p.origin - (window - 1 - s) * STEP_MS);
    const channels: Partial<Record<Resource, ArrayLike<number>>> = {
      [p.request.resource]: p.tail.subarray(p.tail.length - window),
    };
    for (const [resource, history] of Object.entries(p.request.context ?? {}) as [
      Resource,
      typeof p.request.history,
    ][]) {
      if (resource === p.request.resource || !history) continue;
      try {
        const checked = checkHistory(`${p.request.hostId}/${resource}`, history);
        channels[resource] = times.map((t) => sampleAt(checked, t));
      } catch (error) {
        p.warnings.push(`context ${resource} ignored: ${(error as Error).message}`);
      }
    }
    return { resource: p.request.resource, channels, times };
  }

  baseline(name: BaselineName, p: PreparedRequest): ForecastResult {
    return this.result(p, name, 'builtin', points(p.origin, baselineForecast(name, p.tail, p.steps), p.steps));
  }

  private result(p: PreparedRequest, model: ModelName, version: string, pts: ForecastPoint[]): ForecastResult {
    const peak = pts.reduce((a, b) => (b.yhat > a.yhat ? b : a), pts[0]!);
    return {
      seriesId: p.seriesId,
      hostId: p.request.hostId,
      resource: p.request.resource,
      points: pts,
      model,
      modelVersion: version,
      intervalWidth: 0.8,
      peak,
      warnings: p.warnings,
    };
  }
}

/** Creates a forecaster over `artifactsDir` and loads the newest usable models; never throws for bad models. */
export async function createForecaster(options: ForecasterOptions): Promise<OnnxForecaster> {
  return new OnnxForecaster(options).start();
}

export { Z_80 };
