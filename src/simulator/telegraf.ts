/**
 * Writes hosts' utilisation to InfluxDB exactly as Telegraf's default inputs would (`cpu`, `mem`, `diskio`, `net`,
 * tagged `host`), stamped with the simulated clock, as line protocol over HTTP (the v1 `/write` endpoint) in batches.
 * Writes run behind the simulation: a slow or absent InfluxDB delays metrics, never the fleet's API.
 */
import type { MetricsSink } from './fleet.js';
import type { HostCounters, UtilisationSample } from './utilisation.js';

/** What a host's Telegraf lines name: the host, and its cumulative counters. */
export interface ReportingHost {
  id: string;
  counters: HostCounters;
}

export interface InfluxTarget {
  /** e.g. http://127.0.0.1:18086 */
  url: string;
  database: string;
  username?: string;
  password?: string;
}

export interface WriterStats {
  pointsQueued: number;
  pointsWritten: number;
  pointsDropped: number;
  batchesWritten: number;
  writeErrors: number;
  lastError?: string;
  /** Simulated time of the newest metrics boundary fully written. */
  lastWrittenAt?: string;
  queuedLines: number;
}

const fixed = (n: number): string => (Math.round(n * 1000) / 1000).toString();

/**
 * The four Telegraf lines of one host at one moment (seconds precision). Only the fields Understudy reads are
 * written, named, tagged and typed as Telegraf's defaults (floats for percentages, integer counters): the other
 * default fields would double what InfluxDB has to ingest for a 10,000-host fleet and nobody reads them.
 */
export function telegrafLines(host: ReportingHost, u: UtilisationSample, timeSeconds: number): string {
  const tag = `host=${host.id}`;
  const c = host.counters;
  return (
    `cpu,cpu=cpu-total,${tag} usage_idle=${fixed(100 - u.cpu)} ${timeSeconds}\n` +
    `mem,${tag} used_percent=${fixed(u.memory)} ${timeSeconds}\n` +
    `diskio,${tag},name=sda io_time=${c.ioTimeMs}i,read_bytes=${c.readBytes}i,write_bytes=${c.writeBytes}i ${timeSeconds}\n` +
    `net,${tag},interface=eth0 bytes_recv=${c.bytesRecv}i,bytes_sent=${c.bytesSent}i ${timeSeconds}\n`
  );
}

/** Lines per HTTP write: large enough to amortise the request, small enough for InfluxDB 1.x to take quickly. */
const LINES_PER_BATCH = 10_000;
const CONCURRENT_WRITES = 2;
/** Beyond this backlog the oldest metrics are dropped (and counted) rather than exhausting memory. */
const MAX_QUEUED_LINES = 4_000_000;

export class TelegrafWriter implements MetricsSink {
  readonly stats: WriterStats = {
    pointsQueued: 0,
    pointsWritten: 0,
    pointsDropped: 0,
    batchesWritten: 0,
    writeErrors: 0,
    queuedLines: 0,
  };
  private readonly queue: { body: string; lines: number; timeMs: number }[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly target: InfluxTarget) {}

  emit(timeMs: number, _intervalMs: number, hosts: { host: ReportingHost; utilisation: UtilisationSample }[]): void {
    const timeSeconds = Math.floor(timeMs / 1000);
    let body = '';
    let lines = 0;
    for (const { host, utilisation } of hosts) {
      body += telegrafLines(host, utilisation, timeSeconds);
      lines += 4;
      if (lines >= LINES_PER_BATCH) {
        this.enqueue(body, lines, timeMs);
        body = '';
        lines = 0;
      }
    }
    if (lines > 0) this.enqueue(body, lines, timeMs);
  }

  private enqueue(body: string, lines: number, timeMs: number): void {
    this.queue.push({ body, lines, timeMs });
    this.stats.pointsQueued += lines;
    this.stats.queuedLines += lines;
    while (this.stats.queuedLines > MAX_QUEUED_LINES && this.queue.length > 1) {
      const dropped = this.queue.shift()!;
      this.stats.queuedLines -= dropped.lines;
      this.stats.pointsDropped += dropped.lines;
    }
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < CONCURRENT_WRITES && this.queue.length > 0) {
      const batch = this.queue.shift()!;
      this.stats.queuedLines -= batch.lines;
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  private async write(batch: { body: string; lines: number; timeMs: number }): Promise<void> {
    const url = new URL('/write', this.target.url);
    url.searchParams.set('db', this.target.database);
    url.searchParams.set('precision', 's');
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (this.target.username !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${this.target.username}:${this.target.password ?? ''}`).toString('base64')}`;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          body: batch.body,
          headers,
          signal: AbortSignal.timeout(30_000),
        });
        if (response.status === 204) {
          this.stats.pointsWritten += batch.lines;
          this.stats.batchesWritten++;
          const at = new Date(batch.timeMs).toISOString();
          if (this.stats.lastWrittenAt === undefined || at > this.stats.lastWrittenAt) this.stats.lastWrittenAt = at;
          return;
        }
        throw new Error(`InfluxDB answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      } catch (error) {
        this.stats.writeErrors++;
        this.stats.lastError = error instanceof Error ? error.message : String(error);
        if (attempt >= 3) {
          this.stats.pointsDropped += batch.lines;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** Resolves once everything emitted so far has been written (or given up on). */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
