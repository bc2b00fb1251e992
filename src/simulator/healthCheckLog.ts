/**
 * What the provider saw of the watchers: the real-time gap between two batched health checks of each host. The
 * benchmarks read it here, on the provider's side, because health checks no longer leave a trace in any workflow
 * history. Kept in memory only; `reset` starts a measurement window.
 */

/** Gaps are counted in buckets this wide, up to MAX_GAP_MS (longer ones land in the last bucket). */
const BUCKET_MS = 10;
const MAX_GAP_MS = 600_000;

export interface HealthCheckGaps {
  /** Real time (epoch ms) the window started. */
  since: number;
  hostsChecked: number;
  checks: number;
  gapsMs: { count: number; p50: number; p99: number; max: number };
  /**
   * Each host's longest gap, the one still open at the time of the report included (a host no longer checked
   * shows how long it has waited), spread over the hosts.
   */
  hostMaxGapsMs: { p50: number; p99: number; max: number };
  /** The hosts with the longest gaps, longest first. */
  worstHosts: { hostId: string; maxGapMs: number; checks: number }[];
  /** Hosts whose last answer was unhealthy: when (real time, epoch ms) the current run of failed answers began. */
  failingSince: Record<string, number>;
}

export class HealthCheckLog {
  private since = Date.now();
  private readonly hosts = new Map<string, { lastAt: number; maxGapMs: number; checks: number }>();
  private readonly failingSince = new Map<string, number>();
  private buckets = new Uint32Array(MAX_GAP_MS / BUCKET_MS + 1);
  private maxGapMs = 0;
  private checks = 0;

  record(answers: readonly { hostId: string; healthy: boolean }[], at: number = Date.now()): void {
    for (const { hostId, healthy } of answers) {
      this.checks += 1;
      if (healthy) this.failingSince.delete(hostId);
      else if (!this.failingSince.has(hostId)) this.failingSince.set(hostId, at);
      const host = this.hosts.get(hostId);
      if (!host) {
        this.hosts.set(hostId, { lastAt: at, maxGapMs: 0, checks: 1 });
        continue;
      }
      const gap = at - host.lastAt;
      host.lastAt = at;
      host.checks += 1;
      host.maxGapMs = Math.max(host.maxGapMs, gap);
      this.maxGapMs = Math.max(this.maxGapMs, gap);
      this.buckets[Math.min(this.buckets.length - 1, Math.floor(gap / BUCKET_MS))]! += 1;
    }
  }

  reset(at: number = Date.now()): void {
    this.since = at;
    this.hosts.clear();
    this.failingSince.clear();
    this.buckets = new Uint32Array(this.buckets.length);
    this.maxGapMs = 0;
    this.checks = 0;
  }

  report(worst = 20, at: number = Date.now()): HealthCheckGaps {
    const hostMax = [...this.hosts.values()].map((h) => Math.max(h.maxGapMs, at - h.lastAt)).sort((a, b) => a - b);
    const hostQuantile = (q: number): number =>
      hostMax.length === 0 ? 0 : hostMax[Math.min(hostMax.length - 1, Math.ceil(q * hostMax.length) - 1)]!;
    const count = this.buckets.reduce((sum, n) => sum + n, 0);
    const quantile = (q: number): number => {
      if (count === 0) return 0;
      const rank = Math.ceil(q * count);
      let seen = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        seen += this.buckets[i]!;
        if (seen >= rank) return Math.min(this.maxGapMs, (i + 1) * BUCKET_MS);
      }
      return this.maxGapMs;
    };
    return {
      since: this.since,
      hostsChecked: this.hosts.size,
      checks: this.checks,
      gapsMs: { count, p50: quantile(0.5), p99: quantile(0.99), max: this.maxGapMs },
      hostMaxGapsMs: { p50: hostQuantile(0.5), p99: hostQuantile(0.99), max: hostMax[hostMax.length - 1] ?? 0 },
      worstHosts: [...this.hosts]
        .map(([hostId, h]) => ({ hostId, maxGapMs: h.maxGapMs, checks: h.checks }))
        .sort((a, b) => b.maxGapMs - a.maxGapMs)
        .slice(0, worst),
      failingSince: Object.fromEntries(this.failingSince),
    };
  }
}
