/**
 * The metrics store: reads hosts' utilisation (Telegraf's default schema) as evenly spaced windows in percent of
 * capacity, and writes forecasts and anomaly events beside the actuals. Times are the data's own timestamps; nothing
 * here reads the wall clock. Types only (no I/O), so workflow code may import them.
 */
import type { Resource } from '../provider/types.js';

export type { Resource } from '../provider/types.js';

/** A host to read, with what the reader needs to turn its counters into percent of capacity. */
export interface HostToRead {
  hostId: string;
  /** Link speed for `net` (Telegraf does not report it); without it the network window reports `unknown-capacity`. */
  networkMbps?: number;
}

export interface UtilisationQuery {
  hosts: HostToRead[];
  /** Default: all four. */
  resources?: readonly Resource[];
  /** Inclusive start and exclusive end, in data time. */
  start: Date;
  end: Date;
  /** Width of each output step, in seconds (e.g. 60). */
  stepSeconds: number;
}

/**
 * Something wrong with the data, reported rather than papered over:
 * - `gap`: steps with no sample (their values are null);
 * - `counter-reset`: a counter went backwards (a host reboot); the interval across it gives no rate;
 * - `invalid-value`: NaN, infinite or out-of-range samples, dropped;
 * - `no-data`: the host has no samples of this resource in the window at all;
 * - `unknown-capacity`: a counter cannot become a percentage without the host's capacity.
 */
export interface DataIssue {
  kind: 'gap' | 'counter-reset' | 'invalid-value' | 'no-data' | 'unknown-capacity';
  /** Data time of the first affected step (or sample). */
  from: string;
  /** Data time just after the last affected step, for ranges. */
  to?: string;
  /** How many steps (gap) or samples (resets, invalid values) it covers. */
  count: number;
  detail: string;
}

export interface UtilisationWindow {
  hostId: string;
  resource: Resource;
  /** Start of the first step; step i covers [start + i·step, start + (i+1)·step). */
  start: string;
  stepSeconds: number;
  /** Percent of capacity per step (mean of the step's samples), or null where the data has a gap. */
  values: (number | null)[];
  /** Data time of the newest sample seen, if any: "now" in data terms. */
  lastSampleAt?: string;
  issues: DataIssue[];
}

/** One forecast step for a host and resource, written to the `understudy_forecast` measurement. */
export interface ForecastPoint {
  hostId: string;
  resource: Resource;
  /** Data time the forecast is for. */
  time: Date;
  /** Data time the forecast was made at (the last actual it saw). */
  issuedAt: Date;
  model: string;
  modelVersion: string;
  horizonMinutes: number;
  /** Percent of capacity, with its interval. */
  yhat: number;
  yhatLower?: number;
  yhatUpper?: number;
}

/** An anomaly (actual outside the forecast interval, or a sustained shift), written to `understudy_anomaly`. */
export interface AnomalyEvent {
  hostId: string;
  resource: Resource;
  time: Date;
  kind: 'spike' | 'sustained-shift' | 'drop';
  actual: number;
  expected: number;
  /** How far outside the interval, in percent points; positive above. */
  deviation: number;
  detail?: string;
}

export const FORECAST_MEASUREMENT = 'understudy_forecast';
export const ANOMALY_MEASUREMENT = 'understudy_anomaly';
export const PAIR_DEMAND_MEASUREMENT = 'understudy_pair_demand';
export const DECISION_MEASUREMENT = 'understudy_decision';

/**
 * One scaling decision of one pair, "none" included, written to `understudy_decision` beside the forecasts it was
 * taken on: the audit of what the policy saw and chose at each data step, whether or not the pair acted.
 */
export interface DecisionPoint {
  pairId: string;
  /** The pair's primary when it was decided. */
  hostId: string;
  /** Data time (provider clock) of the decision. */
  time: Date;
  action: string;
  /** Whether the pair took it: false for "none", in forecast-only mode, in cooldown, paused, or refused. */
  executed: boolean;
  reason: string;
  bindingResource?: Resource;
  peakPercent?: number;
  actualPercent?: number;
  /** Data time of the newest sample the forecast saw. */
  issuedAt: Date;
  /** Wall-clock milliseconds from the observer's read of the fleet (`time`) to the decision: its forecasting time. */
  decidedAfterMs?: number;
  model?: string;
  modelVersion?: string;
}

/**
 * One step of a pair's whole demand of one resource, in the resource's own units (cores, GiB, IOPS, Mbps): what the
 * pair's hosts carried then, whichever host was primary. Written to `understudy_pair_demand`, so the pair's history
 * follows its workloads across failovers and swaps instead of its hosts.
 */
export interface PairDemandPoint {
  pairId: string;
  resource: Resource;
  /** Start of the step. */
  time: Date;
  demand: number;
  /** The host that was primary when the step was recorded. */
  primaryHostId: string;
}

/** A read of a pair's whole record, whatever its data clock (a simulator's may run years ahead or behind). */
export const WHOLE_RECORD = { start: new Date(0), end: new Date(Date.UTC(2100, 0, 1)) } as const;

export interface PairDemandQuery {
  pairIds: string[];
  start: Date;
  end: Date;
}

export interface ForecastQuery {
  hostIds: string[];
  resource?: Resource;
  start: Date;
  end: Date;
}

export interface MetricsStore {
  /** Many hosts in one round trip; one window per host and resource, in the order asked. */
  readUtilisation(query: UtilisationQuery): Promise<UtilisationWindow[]>;
  /**
   * Data time of the newest sample of any of these hosts (the data's "now"), or undefined when there is none. With
   * `after`, only samples after it are looked at (undefined: none came since): a read the store can answer from its
   * newest data, where an open one scans everything it holds for those hosts.
   */
  latestSampleTime(hostIds: string[], after?: Date): Promise<Date | undefined>;
  writeForecasts(points: ForecastPoint[]): Promise<void>;
  writeAnomalies(events: AnomalyEvent[]): Promise<void>;
  readForecasts(query: ForecastQuery): Promise<ForecastPoint[]>;
  readAnomalies(query: ForecastQuery): Promise<AnomalyEvent[]>;
  writePairDemand(points: PairDemandPoint[]): Promise<void>;
  readPairDemand(query: PairDemandQuery): Promise<PairDemandPoint[]>;
  writeDecisions(points: DecisionPoint[]): Promise<void>;
  /** The pairs' decisions in the range, oldest first. */
  readDecisions(query: PairDemandQuery): Promise<DecisionPoint[]>;
}
