/**
 * Domain types of the policy: the specification's `HostData`, `WorkloadData` and `PredictionModel`, and the inputs
 * and outputs of the pure policy functions (placement, scaling, off-peak windows). Plain JSON-able data only, no
 * I/O and no Node built-ins: workflows, benchmarks and tests all import this module.
 */
import type { Capacity, HostRole, HostStatus, Resource } from '../provider/types.js';

export type { Capacity, Resource } from '../provider/types.js';

/** Utilisation per resource, in percent of what the host holds: its capacity times its allocation fraction. */
export type Utilisation = Record<Resource, number>;

/** The specification's HostData. */
export interface HostData {
  hostId: string;
  region: string;
  zone: string;
  role: HostRole;
  status: HostStatus;
  capacity: Capacity;
  /** Share of `capacity` the host holds now (a standby shadow 0.1–0.2, an active host 1). */
  allocationFraction: number;
  utilisation?: Utilisation;
  /** Hash of the applied configuration, to detect drift between a primary and its shadow. */
  configurationHash?: string;
}

/** The specification's WorkloadData: what a workload reserves, and where it runs. */
export interface WorkloadData {
  workloadId: string;
  resourceRequirements: Capacity;
  hostId: string;
  /** Its share of its host's current utilisation per resource (in the host's terms, see Utilisation), when known. */
  utilisation?: Partial<Utilisation>;
}

/** The specification's PredictionModel: which forecaster made a forecast. */
export interface PredictionModel {
  modelType: string;
  parameters: Record<string, unknown>;
  /** Minutes ahead. */
  predictionHorizon: number;
  version?: string;
}

// ---- placement ---------------------------------------------------------------------------------------------------

export interface RegionSpec {
  name: string;
  zones: string[];
  /**
   * Capacity the region can give to shadows in all: their standby footprints plus, after another region's outage,
   * the growth of the shadows that must take over. Per resource.
   */
  shadowCapacity: Capacity;
  /** The largest single host the region can provide; a shadow must fit on one host at full size. */
  maxHostCapacity: Capacity;
}

export interface PrimarySpec {
  hostId: string;
  region: string;
  zone: string;
  capacity: Capacity;
  /** Primaries of one diversity group have their shadows spread across regions. */
  diversityGroup?: string;
}

export interface Topology {
  regions: RegionSpec[];
  primaries: PrimarySpec[];
}

export interface ShadowAssignment {
  primaryHostId: string;
  /** Region and zone for the primary's shadow; never the primary's region. */
  region: string;
  zone: string;
  /** The shadow's standby allocation fraction (the policy's shadowFraction). */
  allocationFraction: number;
}

export interface PlacementOptions {
  shadowFraction: number;
  /** Existing assignments to keep (e.g. shadows already provisioned); only the others are placed. */
  keep?: ShadowAssignment[];
  /** Regions (or hosts' regions) that must not receive a shadow now, e.g. a region in an outage or maintenance. */
  excludeRegions?: string[];
}

/** A topology that cannot be placed or proven; `problems` names each fault (duplicate ids, a region with no room…). */
export interface PlacementProblem {
  kind:
    | 'duplicate-host'
    | 'duplicate-region'
    | 'unknown-region'
    | 'unknown-zone'
    | 'no-other-region'
    | 'primary-too-large'
    | 'insufficient-shadow-capacity'
    | 'not-resilient'
    | 'invalid-capacity'
    /** Placement options out of range (e.g. shadowFraction outside (0, 1]). */
    | 'invalid-options'
    /** An assignment (or a replacement request) names a primary the topology does not list. */
    | 'unknown-host';
  message: string;
  hostId?: string;
  region?: string;
}

export type PlacementResult =
  { ok: true; assignments: ShadowAssignment[] } | { ok: false; problems: PlacementProblem[] };

/**
 * Where a replacement shadow goes. On failure, `bestEffort` is the best region even though it does not keep the fleet
 * resilient (absent when no region can hold the shadow at all), for a caller that prefers some shadow to none.
 */
export type ReplacementResult =
  | { ok: true; assignment: ShadowAssignment }
  | { ok: false; problems: PlacementProblem[]; bestEffort?: ShadowAssignment };

/**
 * Proof (or refutation) that after any single region's outage every primary in it has a shadow elsewhere that can
 * grow to full size within the capacity of the shadow's region.
 */
export interface ResilienceReport {
  resilient: boolean;
  /** Per failed region: what the surviving regions would need, and whether it fits. */
  outages: {
    failedRegion: string;
    affectedPrimaries: string[];
    /** Per surviving region: required capacity after the growth of the shadows it holds for the failed region. */
    demands: { region: string; required: Capacity; available: Capacity; fits: boolean }[];
    uncovered: string[];
  }[];
  problems: PlacementProblem[];
}

// ---- scaling ------------------------------------------------------------------------------------------------------

export interface ScalingPolicy {
  /** Percent of capacity; scale out when the forecast peak over a horizon exceeds it. */
  thresholdPercent: number;
  /** Scale back only when every forecast peak is below threshold − hysteresis… */
  hysteresisPercent: number;
  /** …for this long without interruption. */
  scaleBackAfterMinutes: number;
  horizonsMinutes: number[];
  /** No new scaling action within this long of the previous one. */
  cooldownMinutes: number;
  /** Standby share of a shadow; also the share it returns to on scale-back. */
  shadowFraction: number;
  /** Record the decision without acting on it. */
  forecastOnly: boolean;
  /**
   * What a scale-out is judged and sized on: `upper`, the upper bound of the forecast's interval (the demand the pair
   * should be ready for); `forecast`, the point forecast. Scale-back is judged on the point forecast either way.
   * Absent (pairs started before it existed): `forecast`.
   */
  scaleOutOn?: 'upper' | 'forecast';
}

export interface ForecastPeak {
  horizonMinutes: number;
  resource: Resource;
  /** The point forecast's highest value within the horizon. */
  peakPercent: number;
  /** The highest upper bound of the forecast's interval (80%) within the horizon; absent in older forecasts. */
  upperPercent?: number;
  peakAt: number;
}

/** The forecast the decision is taken on: its peak per horizon, per resource, in percent of the primary's capacity. */
export interface ForecastSummary {
  /** Data time (epoch ms) the forecast was issued at. */
  issuedAt: number;
  /** Peak of yhat within each horizon, keyed by horizon in minutes, per resource. */
  peaks: ForecastPeak[];
  /**
   * Peak of the pair's whole demand (the primary's load plus what its workloads put on the activated shadow), in
   * percent of the primary's capacity: what the primary would carry with every workload home. Scale-back is judged on
   * it. Absent in forecasts of the primary's own utilisation alone (histories recorded before it existed).
   */
  pairPeaks?: ForecastPeak[];
  /**
   * The pair's whole demand at the newest step, measured, in percent of the primary's capacity, per resource. A
   * scale-back waits while it is not low: a spike the forecast discounts is still load that would come home.
   */
  pairNow?: { resource: Resource; percent: number }[];
  /** True when an anomaly assessment said the latest deviation is an isolated spike (must not move the decision). */
  isolatedSpike?: boolean;
  model?: PredictionModel;
}

export interface PairView {
  pairId: string;
  primary: HostData;
  /** Absent while a replacement shadow is being provisioned. */
  shadow?: HostData;
  workloads: WorkloadData[];
  /** Workloads currently moved from the primary onto the activated shadow. */
  movedToShadow: string[];
}

export interface ScalingMemory {
  /** Epoch ms of the last scaling action taken (or recorded, in forecast-only mode). */
  lastActionAt?: number;
  /** Epoch ms since when every forecast peak has stayed below threshold − hysteresis; absent when it has not. */
  lowSince?: number;
  /** Epoch ms of the last tick on which the peak was above the threshold (hysteresis state). */
  highSince?: number;
  /** Epoch ms of the last tick whose only excess was a spike the anomaly check called isolated. */
  lastSpikeAt?: number;
}

export type ScalingAction =
  | { kind: 'none' }
  | {
      kind: 'activate-shadow-and-migrate';
      /** The allocation the shadow is activated at. */
      allocationFraction: number;
      workloadIds: string[];
    }
  /**
   * Grow an already active shadow to `allocationFraction` and move more workloads onto it. When the shadow is already
   * at that allocation (e.g. activated at full size earlier) there is nothing to resize: only the moves remain.
   */
  | { kind: 'scale-up-shadow'; allocationFraction: number; workloadIds: string[] }
  | { kind: 'provision-primary'; capacity: Capacity; workloadIds: string[] }
  | { kind: 'scale-back'; workloadIds: string[]; allocationFraction: number };

export interface ScalingDecision {
  action: ScalingAction;
  /** One sentence an operator reads in the Web UI: which peak, which threshold, why this branch. */
  reason: string;
  /** The resource whose forecast drove the decision (highest predicted utilisation). */
  bindingResource?: Resource;
  /** The peak that drove it, percent of the primary's capacity. */
  peakPercent?: number;
  /** False in forecast-only mode or while in cooldown: the decision is recorded, not executed. */
  execute: boolean;
  /** The memory to carry to the next tick. */
  memory: ScalingMemory;
}

// ---- off-peak -------------------------------------------------------------------------------------------------------

export type OffPeakSpec =
  /** A standard 5-field cron (minute hour day-of-month month day-of-week) in an IANA time zone. */
  | { kind: 'cron'; cron: string; timeZone: string }
  /** The quietest window of the day, learnt from the pair's history. */
  | { kind: 'forecast'; windowMinutes: number };

/** The quietest stretch of the day in a utilisation history. */
export interface QuietWindow {
  /** Minutes after local midnight (in the time zone asked for) at which the window opens, 0–1439. */
  startMinuteOfDay: number;
  windowMinutes: number;
  /** Mean of the history's values within the window, across all days. */
  meanPercent: number;
  timeZone: string;
}

/** The shape of a Temporal `ScheduleSpec`'s calendar part: pass it as `{ cronExpressions, timezone }`. */
export interface OffPeakSchedule {
  cronExpressions: string[];
  timezone: string;
  /** For a `forecast` spec: the window the cron opens. */
  quietWindow?: QuietWindow;
}
