/** Input and result types of the stack probe, shared by its workflow, its activities, the CLI and the tests. */

export interface ProbeResult {
  ok: boolean;
  detail: string;
  elapsedMs: number;
}

export interface StackProbeInput {
  /** How many rounds to run; each round probes the metrics store and the forecaster. */
  rounds: number;
  /** Pause between rounds, in seconds of workflow time (a timer, so time-skipping tests fast-forward it). */
  intervalSeconds: number;
}

export interface StackProbeRound {
  round: number;
  metricsStore: ProbeResult;
  forecaster: ProbeResult;
}

export interface StackProbeReport {
  ok: boolean;
  rounds: StackProbeRound[];
}

export const STACK_PROBE_LIMITS = { maxRounds: 1_000, maxIntervalSeconds: 7 * 24 * 3600 } as const;
