/**
 * The InfluxDB 2.x `MetricsStore` (v2 HTTP API: Flux queries, line-protocol writes to a bucket) with
 * `@influxdata/influxdb-client`. It speaks to InfluxDB 2.x/3.x/Cloud, and to InfluxDB 1.8+, whose v2 compatibility
 * API takes `database/retention-policy` as the bucket and `username:password` as the token (the tests use one).
 *
 * Flux fetches the raw Telegraf samples of every requested host in one query; the conversion to percent of capacity
 * is the same code the 1.x adapter uses (./utilisation.ts), so both report gaps, resets and invalid samples alike.
 */
import { InfluxDB, type QueryApi } from '@influxdata/influxdb-client';
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
} from './utilisation.js';
import { pairDemandLines } from './pairDemand.js';

export interface InfluxV2Options {
  url: string;
  org: string;
  bucket: string;
  token?: string;
  /** Per request, real milliseconds. Default 30000. */
  timeoutMs?: number;
}

export class MetricsStoreV2Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricsStoreError';
  }
}

/** A row of a Flux result, as the client maps it to an object. */
type FluxRow = Record<string, unknown> & { _time: string; _value: unknown; _field: string; _measurement: string };

const MEASUREMENT_OF: Record<Resource, string> = { cpu: 'cpu', memory: 'mem', storage: 'diskio', network: 'net' };
const DEVICE_TAG: Record<string, string | undefined> = { diskio: 'name', net: 'interface' };

const fluxString = (s: string): string => JSON.stringify(s);
const fluxTime = (ms: number): string => new Date(ms).toISOString();
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Flux returns one row per field: folds them into one record per time and `tags`, each field under its name. */
function foldFields(rows: FluxRow[], tags: readonly string[]): Map<string, Record<string, unknown>> {
  const records = new Map<string, Record<string, unknown>>();
  for (const row of rows) {
    const key = [row._time, ...tags.map((t) => row[t])].join('|');
    const record = records.get(key) ?? { ...row };
    record[row._field] = row._value;
    records.set(key, record);
  }
  return records;
}

export class InfluxV2MetricsStore implements MetricsStore {
  private readonly client: InfluxDB;
  private readonly queryApi: QueryApi;

  constructor(private readonly options: InfluxV2Options) {
    this.client = new InfluxDB({
      url: options.url,
      ...(options.token !== undefined ? { token: options.token } : {}),
      timeout: options.timeoutMs ?? 30_000,
    });
    this.queryApi = this.client.getQueryApi(options.org);
  }

  private async rows(query: string): Promise<FluxRow[]> {
    try {
      return await this.queryApi.collectRows<FluxRow>(query);
    } catch (error) {
      throw new MetricsStoreV2Error(`InfluxDB (v2 API) query failed: ${(error as Error).message}`);
    }
  }

  async write(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const writeApi = this.client.getWriteApi(this.options.org, this.options.bucket, 'ms', {
      batchSize: lines.length + 1,
      flushInterval: 0,
      maxRetries: 0,
    });
    writeApi.writeRecords(lines);
    try {
      await writeApi.close();
    } catch (error) {
      throw new MetricsStoreV2Error(`InfluxDB (v2 API) refused the write: ${(error as Error).message}`);
    }
  }

  private hostPredicate(hostIds: string[]): string {
    return this.tagPredicate('host', hostIds);
  }

  private tagPredicate(tag: string, values: string[]): string {
    return `r.${tag} =~ /^(${values.map(escapeRegex).join('|')})$/`;
  }

  private from(startMs: number, endMs: number): string {
    return `from(bucket: ${fluxString(this.options.bucket)}) |> range(start: ${fluxTime(startMs)}, stop: ${fluxTime(endMs)})`;
  }

  async readUtilisation(query: UtilisationQuery): Promise<UtilisationWindow[]> {
    const grid = stepGrid(query);
    const resources = query.resources ?? RESOURCES;
    if (query.hosts.length === 0) return [];
    const endMs = grid.startMs + grid.steps * grid.stepMs;
    const wanted: Record<Resource, string> = {
      cpu: `(r._measurement == "cpu" and r.cpu == "cpu-total" and r._field == "usage_idle")`,
      memory: `(r._measurement == "mem" and r._field == "used_percent")`,
      storage: `(r._measurement == "diskio" and r._field == "io_time")`,
      network:
        `(r._measurement == "net" and (r._field == "bytes_recv" or r._field == "bytes_sent") ` +
        `and r.interface != "all" and r.interface != "lo")`,
    };
    // One query for everything; gauges' samples before the window are ignored by the step grid.
    const flux =
      `${this.from(grid.startMs - COUNTER_LOOKBACK_MS, endMs)}\n` +
      `  |> filter(fn: (r) => ${this.hostPredicate(query.hosts.map((h) => h.hostId))})\n` +
      `  |> filter(fn: (r) => ${resources.map((r) => wanted[r]).join(' or ')})\n` +
      `  |> keep(columns: ["_time", "_value", "_field", "_measurement", "host", "name", "interface"])`;
    const rows = await this.rows(flux);

    // "measurement|host" → device → field → samples
    type Samples = { t: number; v: number | null }[];
    const grouped = new Map<string, Map<string, Map<string, Samples>>>();
    for (const row of rows) {
      const host = String(row.host);
      const deviceTag = DEVICE_TAG[row._measurement];
      const deviceValue = deviceTag === undefined ? undefined : row[deviceTag];
      const device = typeof deviceValue === 'string' ? deviceValue : '';
      const value = typeof row._value === 'number' ? row._value : row._value === null ? null : Number(row._value);
      const key = `${row._measurement}|${host}`;
      const byDevice = grouped.get(key) ?? new Map<string, Map<string, Samples>>();
      grouped.set(key, byDevice);
      const byField = byDevice.get(device) ?? new Map<string, Samples>();
      byDevice.set(device, byField);
      const samples = byField.get(row._field) ?? [];
      byField.set(row._field, samples);
      samples.push({ t: Date.parse(row._time), v: value });
    }
    const seriesFor = (resource: Resource, hostId: string): DeviceSeries[] => {
      const byDevice = grouped.get(`${MEASUREMENT_OF[resource]}|${hostId}`);
      if (!byDevice) return [];
      return [...byDevice].map(([device, byField]) => ({
        ...(device !== '' ? { device } : {}),
        fields: Object.fromEntries(
          [...byField].map(([field, samples]) => {
            samples.sort((a, b) => a.t - b.t);
            return [field, { times: samples.map((s) => s.t), values: samples.map((s) => s.v) }];
          }),
        ),
      }));
    };
    return buildWindows(query, grid, seriesFor);
  }

  async latestSampleTime(hostIds: string[], after?: Date): Promise<Date | undefined> {
    if (hostIds.length === 0) return undefined;
    // Flux needs a start; ten years back covers any retained Telegraf data. Its start is inclusive: one ms after.
    const start = after ? new Date(after.getTime() + 1).toISOString() : '-87600h';
    const rows = await this.rows(
      `from(bucket: ${fluxString(this.options.bucket)}) |> range(start: ${start})\n` +
        `  |> filter(fn: (r) => r._measurement == "cpu" and r.cpu == "cpu-total" and r._field == "usage_idle")\n` +
        `  |> filter(fn: (r) => ${this.hostPredicate(hostIds)})\n` +
        `  |> last()`,
    );
    const latest = Math.max(...rows.map((r) => Date.parse(r._time)));
    return Number.isFinite(latest) ? new Date(latest) : undefined;
  }

  writeForecasts(points: ForecastPoint[]): Promise<void> {
    return this.write(forecastLines(points));
  }

  writeAnomalies(events: AnomalyEvent[]): Promise<void> {
    return this.write(anomalyLines(events));
  }

  /** Rows of a write-back measurement, folded into one record per series and time. */
  private async records(measurement: string, query: ForecastQuery): Promise<Map<string, Record<string, unknown>>> {
    if (query.hostIds.length === 0) return new Map();
    const resource = query.resource === undefined ? '' : ` and r.resource == ${fluxString(query.resource)}`;
    const rows = await this.rows(
      `${this.from(query.start.getTime(), query.end.getTime())}\n` +
        `  |> filter(fn: (r) => r._measurement == ${fluxString(measurement)}${resource})\n` +
        `  |> filter(fn: (r) => ${this.hostPredicate(query.hostIds)})`,
    );
    return foldFields(rows, ['host', 'resource', 'model', 'model_version', 'horizon_minutes', 'kind']);
  }

  async readForecasts(query: ForecastQuery): Promise<ForecastPoint[]> {
    const records = await this.records(FORECAST_MEASUREMENT, query);
    return [...records.values()]
      .map((r) => ({
        hostId: String(r.host),
        resource: r.resource as Resource,
        time: new Date(Date.parse(String(r._time))),
        issuedAt: new Date(Number(r.issued_at)),
        model: String(r.model),
        modelVersion: String(r.model_version),
        horizonMinutes: Number(r.horizon_minutes),
        yhat: Number(r.yhat),
        ...(typeof r.yhat_lower === 'number' ? { yhatLower: r.yhat_lower } : {}),
        ...(typeof r.yhat_upper === 'number' ? { yhatUpper: r.yhat_upper } : {}),
      }))
      .sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async readAnomalies(query: ForecastQuery): Promise<AnomalyEvent[]> {
    const records = await this.records(ANOMALY_MEASUREMENT, query);
    return [...records.values()]
      .map((r) => ({
        hostId: String(r.host),
        resource: r.resource as Resource,
        kind: r.kind as AnomalyEvent['kind'],
        time: new Date(Date.parse(String(r._time))),
        actual: Number(r.actual),
        expected: Number(r.expected),
        deviation: Number(r.deviation),
        ...(typeof r.detail === 'string' ? { detail: r.detail } : {}),
      }))
      .sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  writePairDemand(points: PairDemandPoint[]): Promise<void> {
    return this.write(pairDemandLines(points));
  }

  async readPairDemand(query: PairDemandQuery): Promise<PairDemandPoint[]> {
    if (query.pairIds.length === 0) return [];
    const rows = await this.rows(
      `${this.from(query.start.getTime(), query.end.getTime())}\n` +
        `  |> filter(fn: (r) => r._measurement == ${fluxString(PAIR_DEMAND_MEASUREMENT)})\n` +
        `  |> filter(fn: (r) => ${this.tagPredicate('pair', query.pairIds)})`,
    );
    return [...foldFields(rows, ['pair', 'resource']).values()]
      .filter((r) => typeof r.demand === 'number')
      .map((r) => ({
        pairId: String(r.pair),
        resource: r.resource as Resource,
        time: new Date(Date.parse(String(r._time))),
        demand: r.demand as number,
        primaryHostId: typeof r.primary_host === 'string' ? r.primary_host : '',
      }))
      .sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  writeDecisions(points: DecisionPoint[]): Promise<void> {
    return this.write(decisionLines(points));
  }

  async readDecisions(query: PairDemandQuery): Promise<DecisionPoint[]> {
    if (query.pairIds.length === 0) return [];
    const rows = await this.rows(
      `${this.from(query.start.getTime(), query.end.getTime())}\n` +
        `  |> filter(fn: (r) => r._measurement == ${fluxString(DECISION_MEASUREMENT)})\n` +
        `  |> filter(fn: (r) => ${this.tagPredicate('pair', query.pairIds)})`,
    );
    return [...foldFields(rows, ['pair']).values()]
      .map((r) => decisionFromFields(String(r.pair), new Date(Date.parse(String(r._time))), r))
      .sort((a, b) => a.time.getTime() - b.time.getTime());
  }
}

/** The store for a configured InfluxDB 2.x (influx.version 2), with its token from the environment. */
export function influxV2MetricsStore(loaded: LoadedConfig): InfluxV2MetricsStore {
  const { influx } = loaded.config;
  if (influx.version !== 2) throw new MetricsStoreV2Error('influxV2MetricsStore needs influx.version 2');
  return new InfluxV2MetricsStore({
    url: influx.url,
    org: influx.org,
    bucket: influx.bucket,
    ...(loaded.secrets.influxToken !== undefined ? { token: loaded.secrets.influxToken } : {}),
  });
}
