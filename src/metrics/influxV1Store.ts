/**
 * The InfluxDB 1.x `MetricsStore`: InfluxQL over HTTP (`/query` with `epoch=ms`, `/write` with line protocol). One
 * round trip reads every requested host and resource (one statement per measurement, hosts matched by a regex);
 * the conversion to percent of capacity happens in ./utilisation.ts on the raw samples, so counter resets and gaps
 * are seen and reported rather than averaged away by a server-side `derivative()`.
 */
import type { LoadedConfig } from '../config/load.js';
import { RESOURCES } from '../provider/types.js';
import {
  ANOMALY_MEASUREMENT,
  DECISION_MEASUREMENT,
  FORECAST_MEASUREMENT,
  PAIR_DEMAND_MEASUREMENT,
  type AnomalyEvent,
  type DecisionPoint,
  type ForecastPoint,
  type ForecastQuery,
  type MetricsStore,
  type PairDemandPoint,
  type PairDemandQuery,
  type Resource,
  type UtilisationQuery,
  type UtilisationWindow,
} from './types.js';
import {
  COUNTER_LOOKBACK_MS,
  anomalyLines,
  decisionFromFields,
  decisionLines,
  buildWindows,
  forecastLines,
  stepGrid,
  type DeviceSeries,
  type RawSeries,
} from './utilisation.js';
import { pairDemandLines } from './pairDemand.js';

export interface InfluxV1Options {
  url: string;
  database: string;
  username?: string;
  password?: string;
  /** Per request, real milliseconds. Default 30000. */
  timeoutMs?: number;
}

export class MetricsStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricsStoreError';
  }
}

interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
interface InfluxResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const quoteString = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const toNumber = (v: unknown): number | null => (typeof v === 'number' ? v : v === null ? null : Number.NaN);

export class InfluxV1MetricsStore implements MetricsStore {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: InfluxV1Options) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private authHeaders(): Record<string, string> {
    if (this.options.username === undefined) return {};
    const basic = Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64');
    return { authorization: `Basic ${basic}` };
  }

  async query(statements: string[]): Promise<InfluxResult[]> {
    const body = new URLSearchParams({ db: this.options.database, q: statements.join(';\n'), epoch: 'ms' });
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}/query`, {
        method: 'POST',
        body,
        headers: this.authHeaders(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // Inside the try: the timeout also ends a body that streams past it, and that must fail as this query.
      text = await response.text();
    } catch (error) {
      throw new MetricsStoreError(`cannot query InfluxDB at ${this.base}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new MetricsStoreError(`InfluxDB query failed (${response.status}): ${text.slice(0, 300)}`);
    const parsed = JSON.parse(text) as { results?: InfluxResult[]; error?: string };
    if (parsed.error) throw new MetricsStoreError(`InfluxDB query failed: ${parsed.error}`);
    const results = parsed.results ?? [];
    const failed = results.find((r) => r.error);
    if (failed) throw new MetricsStoreError(`InfluxDB query failed: ${failed.error}`);
    return results;
  }

  async write(lines: string[], precision: 'ms' | 's' = 'ms'): Promise<void> {
    if (lines.length === 0) return;
    const url = `${this.base}/write?${new URLSearchParams({ db: this.options.database, precision }).toString()}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        body: lines.join('\n'),
        headers: this.authHeaders(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = response.status === 204 ? '' : await response.text();
    } catch (error) {
      throw new MetricsStoreError(`cannot write to InfluxDB at ${this.base}: ${(error as Error).message}`);
    }
    if (response.status !== 204) {
      throw new MetricsStoreError(`InfluxDB refused the write (${response.status}): ${text.slice(0, 300)}`);
    }
  }

  private hostFilter(hostIds: string[]): string {
    return this.tagFilter('host', hostIds);
  }

  private tagFilter(tag: string, values: string[]): string {
    return `"${tag}" =~ /^(${values.map(escapeRegex).join('|')})$/`;
  }

  async readUtilisation(query: UtilisationQuery): Promise<UtilisationWindow[]> {
    const grid = stepGrid(query);
    const resources = query.resources ?? RESOURCES;
    if (query.hosts.length === 0) return [];
    const filter = this.hostFilter(query.hosts.map((h) => h.hostId));
    const endMs = grid.startMs + grid.steps * grid.stepMs;
    const range = (lookback: number) => `time >= ${grid.startMs - lookback}ms AND time < ${endMs}ms`;
    const statements: Record<Resource, string> = {
      cpu: `SELECT "usage_idle" FROM "cpu" WHERE "cpu" = 'cpu-total' AND ${filter} AND ${range(0)} GROUP BY "host"`,
      memory: `SELECT "used_percent" FROM "mem" WHERE ${filter} AND ${range(0)} GROUP BY "host"`,
      storage: `SELECT "io_time" FROM "diskio" WHERE ${filter} AND ${range(COUNTER_LOOKBACK_MS)} GROUP BY "host", "name"`,
      network:
        `SELECT "bytes_recv", "bytes_sent" FROM "net" WHERE ${filter} AND "interface" != 'all' AND "interface" != 'lo' ` +
        `AND ${range(COUNTER_LOOKBACK_MS)} GROUP BY "host", "interface"`,
    };
    const results = await this.query(resources.map((r) => statements[r]));
    const byResource = new Map<Resource, Map<string, DeviceSeries[]>>();
    resources.forEach((resource, r) => {
      const byHost = new Map<string, DeviceSeries[]>();
      for (const series of results[r]?.series ?? []) {
        const hostId = series.tags?.host ?? '';
        const fields: Record<string, RawSeries> = {};
        series.columns.forEach((name, index) => {
          if (index === 0) return;
          fields[name] = {
            times: series.values.map((row) => row[0] as number),
            values: series.values.map((row) => toNumber(row[index])),
          };
        });
        const device = series.tags?.name ?? series.tags?.interface;
        byHost.set(hostId, [...(byHost.get(hostId) ?? []), { ...(device !== undefined ? { device } : {}), fields }]);
      }
      byResource.set(resource, byHost);
    });
    return buildWindows(query, grid, (resource, hostId) => byResource.get(resource)?.get(hostId) ?? []);
  }

  async latestSampleTime(hostIds: string[], after?: Date): Promise<Date | undefined> {
    if (hostIds.length === 0) return undefined;
    const since = after ? ` AND time > ${after.getTime()}ms` : '';
    const [result] = await this.query([
      `SELECT last("usage_idle") FROM "cpu" WHERE "cpu" = 'cpu-total' AND ${this.hostFilter(hostIds)}${since}`,
    ]);
    const time = result?.series?.[0]?.values[0]?.[0];
    return typeof time === 'number' ? new Date(time) : undefined;
  }

  async writeForecasts(points: ForecastPoint[]): Promise<void> {
    await this.write(forecastLines(points));
  }

  async writeAnomalies(events: AnomalyEvent[]): Promise<void> {
    await this.write(anomalyLines(events));
  }

  private rangeFilter(query: ForecastQuery): string {
    const resource = query.resource === undefined ? '' : ` AND "resource" = ${quoteString(query.resource)}`;
    return `${this.hostFilter(query.hostIds)}${resource} AND time >= ${query.start.getTime()}ms AND time < ${query.end.getTime()}ms`;
  }

  async readForecasts(query: ForecastQuery): Promise<ForecastPoint[]> {
    if (query.hostIds.length === 0) return [];
    const [result] = await this.query([
      `SELECT "yhat", "yhat_lower", "yhat_upper", "issued_at" FROM "${FORECAST_MEASUREMENT}" WHERE ${this.rangeFilter(query)} ` +
        `GROUP BY "host", "resource", "model", "model_version", "horizon_minutes"`,
    ]);
    const points: ForecastPoint[] = [];
    for (const series of result?.series ?? []) {
      const tags = series.tags ?? {};
      const at = (name: string) => series.columns.indexOf(name);
      for (const row of series.values) {
        const lower = row[at('yhat_lower')];
        const upper = row[at('yhat_upper')];
        points.push({
          hostId: tags.host ?? '',
          resource: (tags.resource ?? 'cpu') as Resource,
          time: new Date(row[0] as number),
          issuedAt: new Date(row[at('issued_at')] as number),
          model: tags.model ?? '',
          modelVersion: tags.model_version ?? '',
          horizonMinutes: Number(tags.horizon_minutes),
          yhat: row[at('yhat')] as number,
          ...(typeof lower === 'number' ? { yhatLower: lower } : {}),
          ...(typeof upper === 'number' ? { yhatUpper: upper } : {}),
        });
      }
    }
    return points.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async readAnomalies(query: ForecastQuery): Promise<AnomalyEvent[]> {
    if (query.hostIds.length === 0) return [];
    const [result] = await this.query([
      `SELECT "actual", "expected", "deviation", "detail" FROM "${ANOMALY_MEASUREMENT}" WHERE ${this.rangeFilter(query)} ` +
        `GROUP BY "host", "resource", "kind"`,
    ]);
    const events: AnomalyEvent[] = [];
    for (const series of result?.series ?? []) {
      const tags = series.tags ?? {};
      const at = (name: string) => series.columns.indexOf(name);
      for (const row of series.values) {
        const detail = row[at('detail')];
        events.push({
          hostId: tags.host ?? '',
          resource: (tags.resource ?? 'cpu') as Resource,
          kind: (tags.kind ?? 'spike') as AnomalyEvent['kind'],
          time: new Date(row[0] as number),
          actual: row[at('actual')] as number,
          expected: row[at('expected')] as number,
          deviation: row[at('deviation')] as number,
          ...(typeof detail === 'string' ? { detail } : {}),
        });
      }
    }
    return events.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async writePairDemand(points: PairDemandPoint[]): Promise<void> {
    await this.write(pairDemandLines(points));
  }

  async readPairDemand(query: PairDemandQuery): Promise<PairDemandPoint[]> {
    if (query.pairIds.length === 0) return [];
    const [result] = await this.query([
      `SELECT "demand", "primary_host" FROM "${PAIR_DEMAND_MEASUREMENT}" ` +
        `WHERE ${this.tagFilter('pair', query.pairIds)} ` +
        `AND time >= ${query.start.getTime()}ms AND time < ${query.end.getTime()}ms GROUP BY "pair", "resource"`,
    ]);
    const points: PairDemandPoint[] = [];
    for (const series of result?.series ?? []) {
      const tags = series.tags ?? {};
      const at = (name: string) => series.columns.indexOf(name);
      for (const row of series.values) {
        const demand = row[at('demand')];
        const primaryHost = row[at('primary_host')];
        if (typeof demand !== 'number') continue;
        points.push({
          pairId: tags.pair ?? '',
          resource: (tags.resource ?? 'cpu') as Resource,
          time: new Date(row[0] as number),
          demand,
          primaryHostId: typeof primaryHost === 'string' ? primaryHost : '',
        });
      }
    }
    return points.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async writeDecisions(points: DecisionPoint[]): Promise<void> {
    await this.write(decisionLines(points));
  }

  async readDecisions(query: PairDemandQuery): Promise<DecisionPoint[]> {
    if (query.pairIds.length === 0) return [];
    const [result] = await this.query([
      `SELECT * FROM "${DECISION_MEASUREMENT}" WHERE ${this.tagFilter('pair', query.pairIds)} ` +
        `AND time >= ${query.start.getTime()}ms AND time < ${query.end.getTime()}ms GROUP BY "pair"`,
    ]);
    const points: DecisionPoint[] = [];
    for (const series of result?.series ?? []) {
      for (const row of series.values) {
        const fields = Object.fromEntries(series.columns.map((column, i) => [column, row[i]]));
        points.push(decisionFromFields(series.tags?.pair ?? '', new Date(row[0] as number), fields));
      }
    }
    return points.sort((a, b) => a.time.getTime() - b.time.getTime());
  }
}

/** The configured InfluxDB 1.x as its URL and database, with the credentials the environment gives. */
export function influxV1Target(loaded: LoadedConfig): InfluxV1Options {
  const { influx } = loaded.config;
  if (influx.version !== 1) throw new MetricsStoreError('influxV1Target needs influx.version 1');
  return {
    url: influx.url,
    database: influx.database,
    ...(loaded.secrets.influxUsername !== undefined ? { username: loaded.secrets.influxUsername } : {}),
    ...(loaded.secrets.influxPassword !== undefined ? { password: loaded.secrets.influxPassword } : {}),
  };
}

/** The store for the configured InfluxDB 1.x (the embedded default), with credentials from the environment. */
export function influxV1MetricsStore(loaded: LoadedConfig): InfluxV1MetricsStore {
  const { influx } = loaded.config;
  if (influx.version !== 1) throw new MetricsStoreError('influxV1MetricsStore needs influx.version 1');
  return new InfluxV1MetricsStore(influxV1Target(loaded));
}
