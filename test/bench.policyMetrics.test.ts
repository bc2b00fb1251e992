// What bench:policy measures: crossings and whether capacity came before them, the seasonal/irregular rule, and the
// trace loader's account of what it did to a file (pure code and temporary files; no services).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyTrace, crossingStats, type CrossingOptions } from '../bench/policyMetrics.js';
import { loadTraceFolder, STEPS_PER_DAY } from '../bench/traces.js';

const OPTIONS: CrossingOptions = {
  thresholdPercent: 80,
  rearmBelowPercent: 10,
  stepMinutes: 5,
  preemptMinutes: 10,
  lookaheadSteps: 12,
  leadCapMinutes: 60,
};
const flags = (text: string): boolean[] => [...text].map((c) => c === '#');

describe('crossingStats', () => {
  it('counts a crossing pre-empted when capacity served 10 minutes before it, and its lead', () => {
    const demand = [50, 60, 70, 85, 90, 60];
    const stats = crossingStats(demand, flags('.####.'), OPTIONS);
    expect(stats).toEqual({ crossings: 1, preempted10: 1, leadMinutes: [10], unanswered: 0 });
  });

  it('dates capacity that came after the crossing with a negative lead, and one that never came as unanswered', () => {
    expect(crossingStats([50, 85, 90, 95], flags('...#'), OPTIONS)).toEqual({
      crossings: 1,
      preempted10: 0,
      leadMinutes: [-10],
      unanswered: 0,
    });
    expect(crossingStats([50, 85, 90, 95], flags('....'), OPTIONS).unanswered).toBe(1);
    // 5 minutes ahead is early, but not pre-empted.
    expect(crossingStats([50, 60, 85], flags('.##'), OPTIONS)).toMatchObject({ preempted10: 0, leadMinutes: [5] });
  });

  it('counts demand wobbling around the threshold as one crossing until it falls below the re-arm line', () => {
    const demand = [60, 85, 79, 85, 75, 90, 65, 90];
    expect(crossingStats(demand, flags('........'), OPTIONS).crossings).toBe(2);
    // A trace that starts above the threshold has not crossed at its start.
    expect(crossingStats([95, 95, 60, 95], flags('....'), OPTIONS).crossings).toBe(1);
  });

  it('caps the lead of capacity in place all along', () => {
    const demand = [...Array<number>(30).fill(50), 90];
    expect(crossingStats(demand, Array<boolean>(31).fill(true), OPTIONS).leadMinutes).toEqual([60]);
  });
});

describe('classifyTrace', () => {
  const days = (n: number, f: (step: number) => number): number[] =>
    Array.from({ length: n * STEPS_PER_DAY }, (_, i) => f(i));

  it('calls a daily cycle or a trend seasonal, and noise irregular', () => {
    let seed = 7;
    const noise = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 10;
    expect(
      classifyTrace(
        days(8, (i) => 50 + 30 * Math.sin((2 * Math.PI * i) / STEPS_PER_DAY)),
        STEPS_PER_DAY,
      ).class,
    ).toBe('seasonal');
    expect(
      classifyTrace(
        days(8, (i) => 20 + i / 50 + noise()),
        STEPS_PER_DAY,
      ).class,
    ).toBe('seasonal');
    const irregular = classifyTrace(
      days(8, () => 50 + noise()),
      STEPS_PER_DAY,
    );
    expect(irregular.class).toBe('irregular');
    expect(irregular.trainingSteps).toBe(4 * STEPS_PER_DAY);
  });

  it('judges the training part only: a cycle that starts in the second half does not count', () => {
    const values = days(8, (i) => (i < 4 * STEPS_PER_DAY ? 50 : 50 + 30 * Math.sin((2 * Math.PI * i) / STEPS_PER_DAY)));
    expect(classifyTrace(values, STEPS_PER_DAY).class).toBe('irregular');
  });
});

describe('loadTraceFolder', () => {
  const folder = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'understudy-traces-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const csv = (rows: [string, number | string][]): string =>
    `timestamp,value\n${rows.map(([t, v]) => `${t},${v}`).join('\n')}\n`;
  const regular = (
    steps: number,
    value: (i: number) => number | string,
    startMs = Date.parse('2026-01-05T00:02:00Z'),
  ) =>
    Array.from({ length: steps }, (_, i): [string, number | string] => [
      new Date(startMs + i * 300_000).toISOString().replace('T', ' ').slice(0, 19),
      value(i),
    ]);

  it('names each file it skipped and what it did to the ones it kept', () => {
    const dir = folder({
      'vm1_cpu.csv': csv([
        ...regular(700, (i) => 40 + (i % 5)),
        ...regular(1, () => 41, Date.parse('2026-01-05T00:02:00Z')),
      ]),
      'vm1_net.csv': csv(regular(700, (i) => 1_000 * (1 + (i % 7)))),
      'vm2_cpu.csv': csv(regular(700, (i) => (i === 300 ? 'n/a' : 40))),
      'vm3_cpu.csv': csv(regular(100, () => 40)),
      'vm4_mem.csv': csv(regular(700, () => 50).filter((_, i) => i < 200 || i > 220)),
    });
    const { traces, skipped } = loadTraceFolder(dir, 'folder', 588);
    expect(traces.map((t) => t.name)).toEqual(['vm1_cpu', 'vm1_net', 'vm4_mem']);
    const [cpu, net, mem] = traces;
    expect(cpu!.scaling).toBe('percent (cpu)');
    expect(cpu!.notes).toEqual(expect.arrayContaining(['1 repeated timestamps averaged']));
    expect(cpu!.notes.join('; ')).toMatch(/701 samples off the 5-minute clock grid/);
    expect(cpu!.startMs).toBe(Date.parse('2026-01-05T00:00:00Z'));
    // Network throughput has no ceiling: sized so its 99th percentile runs at 95%.
    expect(net!.scaling).toBe('net: p99 -> 95%');
    expect(Math.max(...net!.demand)).toBeCloseTo(95, 0);
    expect(mem!.notes).toEqual(expect.arrayContaining(['21 steps in gaps over an hour held at the previous value']));
    expect(mem!.demand.every(Number.isFinite)).toBe(true);
    expect(skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/vm2_cpu\.csv.*line 302: value "n\/a" is not a number/),
      expect.stringMatching(/vm3_cpu\.csv: too short: 100 five-minute steps, at least 588 needed.*skipped/),
    ]);
  });

  it('refuses a folder with no CSV in it, naming it', () => {
    const dir = folder({ 'notes.txt': 'nothing here' });
    expect(() => loadTraceFolder(dir, 'folder', 588)).toThrow(`--traces ${dir}: no .csv files in the folder`);
  });
});
