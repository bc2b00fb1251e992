/**
 * Metrics for the test bed's nodes: kwok runs no containers, so nothing measures them. This agent stands in for
 * Telegraf on each node: at every interval boundary it reads where the workloads run and writes each reporting
 * node's utilisation in Telegraf's schema, from the workloads' demand models (the simulator's model of the same),
 * so the forecasting path reads the bed exactly as it reads a real fleet.
 *
 * Only synthetic demand profiles are played (a trace profile needs the simulator's uploaded traces); a workload
 * with another profile counts as idle and is named in `unplayed`.
 */
import { syntheticDemand } from '../../simulator/demand.js';
import type { TelegrafWriter } from '../../simulator/telegraf.js';
import {
  advanceCounters,
  hostUtilisation,
  zeroCounters,
  type HostCounters,
  type UtilisationSample,
} from '../../simulator/utilisation.js';
import type { FleetProvider, FleetSnapshot, Workload } from '../types.js';

export interface BedMetricsOptions {
  provider: Pick<FleetProvider, 'describeFleet'>;
  writer: Pick<TelegrafWriter, 'emit' | 'drain'>;
  /** Between two samples of a node; Telegraf's default is 10 s, the simulator's demo 60 s. Default 60 s. */
  intervalMs?: number;
}

export class BedMetricsAgent {
  private readonly counters = new Map<string, HostCounters>();
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** Workloads whose demand profile the agent cannot play. */
  readonly unplayed = new Set<string>();
  lastError: string | undefined;

  constructor(private readonly options: BedMetricsOptions) {
    this.intervalMs = options.intervalMs ?? 60_000;
  }

  private demandOf(workload: Workload, timeMs: number): number {
    if (workload.demand.kind !== 'synthetic') {
      this.unplayed.add(workload.id);
      return 0;
    }
    return syntheticDemand(workload.demand, timeMs, Date.parse(workload.createdAt));
  }

  private emit(fleet: FleetSnapshot, timeMs: number): void {
    const reporting: { host: { id: string; counters: HostCounters }; utilisation: UtilisationSample }[] = [];
    for (const host of fleet.hosts) {
      if (host.status !== 'active' && host.status !== 'inactive') continue; // a dead node's agent reports nothing
      const load = fleet.workloads
        .filter((w) => w.hostId === host.id)
        .map((w) => ({ requirements: w.requirements, demand: this.demandOf(w, timeMs) }));
      const utilisation = hostUtilisation(host, load, host.replicatingFrom !== undefined);
      const counters = this.counters.get(host.id) ?? zeroCounters();
      this.counters.set(host.id, counters);
      advanceCounters({ ...host, counters }, utilisation, this.intervalMs);
      reporting.push({ host: { id: host.id, counters }, utilisation });
    }
    this.options.writer.emit(timeMs, this.intervalMs, reporting);
  }

  /**
   * Writes the samples of every boundary in [fromMs, toMs) as if the workloads had always been where they are now:
   * the history a freshly built bed lacks, so forecasts have something to learn from.
   */
  async backfill(fromMs: number, toMs: number): Promise<void> {
    const fleet = await this.options.provider.describeFleet();
    for (let t = Math.ceil(fromMs / this.intervalMs) * this.intervalMs; t < toMs; t += this.intervalMs) {
      this.emit(fleet, t);
    }
    await this.options.writer.drain();
  }

  /** One sample of every reporting node now, stamped with the boundary it belongs to. */
  async sample(nowMs = Date.now()): Promise<void> {
    const fleet = await this.options.provider.describeFleet();
    this.emit(fleet, Math.floor(nowMs / this.intervalMs) * this.intervalMs);
  }

  /** Samples at every interval boundary until `stop`; a failed read is kept in `lastError` and tried again. */
  start(): void {
    const tick = () => {
      const now = Date.now();
      this.running = this.sample(now).then(
        () => {
          this.lastError = undefined;
        },
        (error: unknown) => {
          this.lastError = error instanceof Error ? error.message : String(error);
        },
      );
      this.timer = setTimeout(tick, this.intervalMs - (now % this.intervalMs) + 5);
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.options.writer.drain();
  }
}
