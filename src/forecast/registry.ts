/**
 * Finds and loads the newest usable version of each learned model in its artifacts folders (`prophet-v<N>/`,
 * `lstm-v<N>/`; the shipped models and those trained on this machine), and swaps in newer versions on `reload()`
 * without a restart. A version that fails to load (corrupt or truncated .onnx, manifest mismatch) is skipped with a
 * warning naming it, and the previous good version stays in use; it is retried only when its files change.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openLstm, openProphet, type LstmEngine, type ProphetEngine } from './engines.js';
import type { ModelName, ModelVersionInfo } from './types.js';

type Kind = 'prophet' | 'lstm';
const KINDS: readonly Kind[] = ['prophet', 'lstm'];
/** Sessions replaced by a reload stay open this long, so a batch already running on them can finish. */
const RELEASE_GRACE_MS = 30_000;

export interface SelectionTable {
  /** Per series id: the model the trainer's selector chose from the validation MASE at 1 hour (the 1-hour table). */
  selected: Record<string, ModelName>;
  /** Median validation MASE per model across series; orders the fallback chain. */
  median: Partial<Record<ModelName, number>>;
  /** The same per horizon bucket in minutes ("15": validated at 15 minutes ahead, "60": at 1 hour), when trained so. */
  byHorizon?: Record<string, { selected: Record<string, ModelName>; median: Partial<Record<ModelName, number>> }>;
}

/** The table for requests of `horizonMinutes`: the smallest bucket that covers it, else the 1-hour table. */
export function tableFor(table: SelectionTable, horizonMinutes: number): SelectionTable {
  const buckets = Object.keys(table.byHorizon ?? {})
    .map(Number)
    .filter((b) => Number.isFinite(b) && b >= horizonMinutes)
    .sort((a, b) => a - b);
  const bucket = buckets[0] !== undefined ? table.byHorizon?.[String(buckets[0])] : undefined;
  return bucket ? { selected: bucket.selected, median: bucket.median } : table;
}

/** Models best first by median validation MASE (ties and missing figures: LSTM, then the baselines). */
export function rankModels({ median }: SelectionTable): ModelName[] {
  const order: ModelName[] = ['lstm', 'seasonal_naive', 'short_mean', 'naive', 'prophet'];
  return [...order].sort(
    (a, b) =>
      (median[a] ?? Number.POSITIVE_INFINITY) - (median[b] ?? Number.POSITIVE_INFINITY) ||
      order.indexOf(a) - order.indexOf(b),
  );
}

/** The model for a series: its validated choice, else the best model that needs no per-series fit. */
export function preferredModel(seriesId: string, table: SelectionTable): ModelName {
  return table.selected[seriesId] ?? rankModels(table).find((m) => m !== 'prophet') ?? 'seasonal_naive';
}

export class ModelRegistry {
  prophet: ProphetEngine | undefined;
  lstm: LstmEngine | undefined;
  /** Why a kind is missing or an older version is in use; empty when the newest version of each loaded. */
  readonly problems = new Map<Kind, string>();
  private readonly failed = new Map<string, number>();
  private readonly loadedAt = new Map<Kind, number>();

  readonly artifactsDirs: readonly string[];

  /**
   * `artifactsDirs`: the folders to load from. A folder that does not exist yet holds no versions (the trained
   * models' folder before the first retrain); only when none can be read is that a problem. The highest version
   * number wins, and of two equal numbers the one in the later folder.
   */
  constructor(
    artifactsDirs: string | readonly string[],
    private readonly log: (message: string) => void = () => undefined,
  ) {
    this.artifactsDirs = typeof artifactsDirs === 'string' ? [artifactsDirs] : artifactsDirs;
  }

  async reload(): Promise<ModelVersionInfo[]> {
    const listed: { dir: string; name: string; order: number }[] = [];
    const unreadable: string[] = [];
    for (const [order, dir] of this.artifactsDirs.entries()) {
      try {
        for (const name of await readdir(dir)) listed.push({ dir, name, order });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || this.artifactsDirs.length === 1)
          unreadable.push(`cannot read ${dir}: ${(error as Error).message}`);
      }
    }
    if (unreadable.length === this.artifactsDirs.length) {
      for (const kind of KINDS) if (!this[kind]) this.problems.set(kind, unreadable.join('; '));
      return this.info();
    }
    const where = this.artifactsDirs.join(', ');
    for (const kind of KINDS) {
      const versions = listed
        .map((entry) => ({ entry, match: new RegExp(`^${kind}-v(\\d+)$`).exec(entry.name) }))
        .filter((x): x is { entry: (typeof listed)[number]; match: RegExpExecArray } => x.match !== null)
        .map(({ entry, match }) => ({
          dir: join(entry.dir, entry.name),
          version: Number(match[1]),
          order: entry.order,
        }))
        .sort((a, b) => b.version - a.version || b.order - a.order);
      const current = this[kind];
      const problems: string[] = [];
      for (const candidate of versions) {
        if (current?.dir === candidate.dir) break;
        const stamp = await this.stamp(candidate.dir);
        const failedStamp = this.failed.get(candidate.dir);
        if (failedStamp !== undefined && failedStamp === stamp) {
          problems.push(`${candidate.dir} is unusable (see the earlier warning)`);
          continue;
        }
        try {
          const engine = kind === 'prophet' ? await openProphet(candidate.dir) : await openLstm(candidate.dir);
          this.swap(kind, engine);
          this.log(`forecaster: loaded ${kind} v${engine.version} from ${candidate.dir}`);
          break;
        } catch (error) {
          this.failed.set(candidate.dir, stamp);
          const message = `${kind} version ${candidate.version} is unusable: ${(error as Error).message}`;
          problems.push(message);
          this.log(`forecaster: WARNING ${message}`);
        }
      }
      if (!this[kind]) {
        problems.push(versions.length === 0 ? `no ${kind}-v<N> model folder in ${where}` : `no usable ${kind} version`);
      }
      if (problems.length > 0) this.problems.set(kind, problems.join('; '));
      else if (this[kind]) this.problems.delete(kind);
    }
    return this.info();
  }

  /** The per-series choice and the global ranking, from the newest loaded manifest that has them. */
  selection(): SelectionTable {
    for (const engine of [this.prophet, this.lstm]) {
      const metrics = engine?.manifest.backtest_metrics as
        (Partial<SelectionTable> & { by_horizon_minutes?: SelectionTable['byHorizon'] }) | undefined;
      if (metrics?.selected && metrics.median) {
        return { selected: metrics.selected, median: metrics.median, byHorizon: metrics.by_horizon_minutes };
      }
    }
    return { selected: {}, median: {} };
  }

  info(): ModelVersionInfo[] {
    const out: ModelVersionInfo[] = [];
    if (this.prophet) {
      out.push({
        model: 'prophet',
        version: this.prophet.version,
        dir: this.prophet.dir,
        loadedAt: this.loadedAt.get('prophet') ?? 0,
        series: this.prophet.seriesIndex.size,
      });
    }
    if (this.lstm) {
      const series = this.lstm.manifest.parameters.series;
      out.push({
        model: 'lstm',
        version: this.lstm.version,
        dir: this.lstm.dir,
        loadedAt: this.loadedAt.get('lstm') ?? 0,
        series: Array.isArray(series) ? series.length : 0,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([this.prophet?.release(), this.lstm?.release()]);
    this.prophet = undefined;
    this.lstm = undefined;
  }

  private swap(kind: Kind, engine: ProphetEngine | LstmEngine): void {
    const old = this[kind];
    if (kind === 'prophet') this.prophet = engine as ProphetEngine;
    else this.lstm = engine as LstmEngine;
    this.loadedAt.set(kind, Date.now());
    if (old) setTimeout(() => void old.release().catch(() => undefined), RELEASE_GRACE_MS).unref();
  }

  private async stamp(dir: string): Promise<number> {
    const times = await Promise.all(
      ['model.onnx', 'manifest.json'].map((f) =>
        stat(join(dir, f)).then(
          (s) => s.mtimeMs + s.size,
          () => -1,
        ),
      ),
    );
    return times.reduce((a, b) => a + b, 0);
  }
}
