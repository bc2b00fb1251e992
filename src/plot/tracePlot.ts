/**
 * One SVG per trace, drawn by Vega (rendered headless, no browser): the series, a forecast of it with its 80%
 * interval and horizontal reference lines (a threshold, an overload line); under it, optionally, one strip per
 * strategy with when it had capacity beyond the primary, its scale-outs and its overloaded steps. Used by
 * `bench:policy --plot` and `understudy backtest --plot`.
 */
import { writeFile } from 'node:fs/promises';
import * as vega from 'vega';

export interface StrategyTimeline {
  strategy: string;
  /** 1 where capacity beyond the primary served. */
  extraServing: Uint8Array;
  /** 1 where a serving host was above the overload line. */
  overload: Uint8Array;
  /** Steps whose sample triggered a scale-out. */
  scaleOutSteps: number[];
}

export interface TracePlotInput {
  name: string;
  subtitle: string;
  startMs: number;
  stepMs: number;
  /** Horizontal reference lines, e.g. the scaling threshold and the overload line. */
  levels: { value: number; label: string }[];
  /** Axis title of the series. */
  unit: string;
  /** Legend name of the series. */
  seriesLabel: string;
  /** The series itself; NaN where it has no value. */
  demand: ArrayLike<number>;
  /** The forecast for `horizonMinutes` ahead made at each step, drawn at the time it forecast. */
  forecast: { horizonMinutes: number; at: number[]; yhat: number[]; lower: number[]; upper: number[] };
  /** One strip per strategy under the chart; none for a plain forecast chart. */
  timelines: StrategyTimeline[];
}

const WIDTH = 960;
const TOP_HEIGHT = 260;
const STRIP_HEIGHT = 18;

/** Runs of 1s as [from, to) step ranges. */
function runs(flags: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= flags.length; i++) {
    const on = i < flags.length && flags[i] === 1;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  return out;
}

export function tracePlotSpec(input: TracePlotInput): vega.Spec {
  const time = (step: number): number => input.startMs + step * input.stepMs;
  const demand = Array.from(input.demand, (v, i) => ({ t: time(i), v })).filter((d) => Number.isFinite(d.v));
  const forecast = input.forecast.at.map((t, i) => ({
    t,
    yhat: input.forecast.yhat[i],
    lower: input.forecast.lower[i],
    upper: input.forecast.upper[i],
  }));
  const spans = (flagsOf: (tl: StrategyTimeline) => Uint8Array) =>
    input.timelines.flatMap((tl) =>
      runs(flagsOf(tl)).map(([from, to]) => ({ strategy: tl.strategy, from: time(from), to: time(to) })),
    );
  const capacity = spans((tl) => tl.extraServing);
  const overload = spans((tl) => tl.overload);
  const scaleOuts = input.timelines.flatMap((tl) =>
    tl.scaleOutSteps.map((s) => ({ strategy: tl.strategy, t: time(s) })),
  );
  // A single burst of thousands of percent would flatten the rest: the axis stops above the 99.5th percentile and
  // what lies beyond is clipped (the strips below still show every overloaded step).
  const sorted = demand.map((d) => d.v).sort((a, b) => a - b);
  const high = sorted[Math.floor((sorted.length - 1) * 0.995)] ?? 0;
  const peak = Math.max(...input.levels.map((l) => l.value * 1.1), high * 1.15);
  const stripsHeight = STRIP_HEIGHT * input.timelines.length;
  const demandLabel = input.seriesLabel;
  const forecastLabel = `forecast ${input.forecast.horizonMinutes} min ahead (80% interval)`;
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: WIDTH,
    height: TOP_HEIGHT + (stripsHeight > 0 ? 40 + stripsHeight : 0),
    padding: 8,
    background: 'white',
    title: { text: input.name, subtitle: input.subtitle, anchor: 'start' },
    data: [
      { name: 'demand', values: demand },
      { name: 'forecast', values: forecast },
      { name: 'capacity', values: capacity },
      { name: 'overload', values: overload },
      { name: 'scaleOuts', values: scaleOuts },
    ],
    scales: [
      { name: 'x', type: 'utc', domain: [time(0), time(input.demand.length)], range: [0, WIDTH] },
      { name: 'color', type: 'ordinal', domain: [demandLabel, forecastLabel], range: ['#1f4e79', '#e08214'] },
    ],
    legends: [{ stroke: 'color', orient: 'top', direction: 'horizontal', symbolType: 'stroke', labelLimit: 400 }],
    marks: [
      {
        type: 'group',
        encode: {
          enter: {
            x: { value: 0 },
            y: { value: 0 },
            width: { value: WIDTH },
            height: { value: TOP_HEIGHT },
          },
        },
        scales: [{ name: 'y', type: 'linear', domain: [0, Math.ceil(peak / 10) * 10], range: [TOP_HEIGHT, 0] }],
        axes: [
          { orient: 'left', scale: 'y', title: input.unit, grid: true, gridOpacity: 0.15 },
          { orient: 'bottom', scale: 'x', format: '%b %d', labelOverlap: true },
        ],
        marks: [
          {
            type: 'group',
            // Clipped, so a burst beyond the axis does not spill over the strips; the axes stay outside it.
            encode: { enter: { width: { value: WIDTH }, height: { value: TOP_HEIGHT }, clip: { value: true } } },
            marks: [
              {
                type: 'area',
                from: { data: 'forecast' },
                encode: {
                  enter: {
                    x: { scale: 'x', field: 't' },
                    y: { scale: 'y', field: 'upper' },
                    y2: { scale: 'y', field: 'lower' },
                    fill: { value: '#e08214' },
                    fillOpacity: { value: 0.18 },
                  },
                },
              },
              // The demand on top: on a bursty trace the forecast's line would hide it.
              lineMark('forecast', 'yhat', forecastLabel, 0.8),
              lineMark('demand', 'v', demandLabel, 1),
              ...input.levels.flatMap(({ value, label }, n): vega.Mark[] => [
                {
                  type: 'rule',
                  encode: {
                    enter: {
                      x: { value: 0 },
                      x2: { value: WIDTH },
                      y: { scale: 'y', value },
                      stroke: { value: '#b2182b' },
                      strokeDash: { value: n === 0 ? [6, 3] : [2, 2] },
                    },
                  },
                },
                {
                  type: 'text',
                  encode: {
                    enter: {
                      x: { value: 4 },
                      y: { scale: 'y', value, offset: -3 },
                      text: { value: label },
                      fill: { value: '#b2182b' },
                      fontSize: { value: 9 },
                    },
                  },
                },
              ]),
            ],
          },
        ],
      },
      // The strategies' strips, when there are any (a backtest chart has none).
      ...(input.timelines.length === 0 ? [] : stripMarks(input, stripsHeight)),
    ],
  };
}

/** A line of `field` over time from data set `data`, coloured as `label` in the legend. */
function lineMark(data: string, field: string, label: string, width: number): vega.Mark {
  return {
    type: 'line',
    from: { data },
    encode: {
      enter: {
        x: { scale: 'x', field: 't' },
        y: { scale: 'y', field },
        stroke: { scale: 'color', value: label },
        strokeWidth: { value: width },
      },
    },
  };
}

/** The strategy strips under the chart, and their key. */
function stripMarks(input: TracePlotInput, stripsHeight: number): vega.Mark[] {
  return [
    {
      type: 'group',
      encode: {
        enter: {
          x: { value: 0 },
          y: { value: TOP_HEIGHT + 30 },
          width: { value: WIDTH },
          height: { value: stripsHeight },
        },
      },
      scales: [
        {
          name: 'row',
          type: 'band',
          domain: input.timelines.map((tl) => tl.strategy),
          range: [0, stripsHeight],
          padding: 0.15,
        },
      ],
      axes: [{ orient: 'left', scale: 'row', ticks: false, domain: false }],
      marks: [
        {
          type: 'rect',
          from: { data: 'capacity' },
          encode: {
            enter: {
              x: { scale: 'x', field: 'from' },
              x2: { scale: 'x', field: 'to' },
              y: { scale: 'row', field: 'strategy' },
              height: { scale: 'row', band: 1 },
              fill: { value: '#7fbf7b' },
              fillOpacity: { value: 0.6 },
              tooltip: { value: 'capacity beyond the primary' },
            },
          },
        },
        {
          type: 'rect',
          from: { data: 'overload' },
          encode: {
            enter: {
              x: { scale: 'x', field: 'from' },
              x2: { scale: 'x', field: 'to', offset: 1 },
              y: { scale: 'row', field: 'strategy' },
              height: { scale: 'row', band: 1 },
              fill: { value: '#d7191c' },
            },
          },
        },
        {
          type: 'symbol',
          from: { data: 'scaleOuts' },
          encode: {
            enter: {
              x: { scale: 'x', field: 't' },
              y: { scale: 'row', field: 'strategy', band: 0.5 },
              shape: { value: 'triangle-up' },
              size: { value: 14 },
              fill: { value: '#1a1a1a' },
            },
          },
        },
      ],
    },
    {
      type: 'text',
      encode: {
        enter: {
          x: { value: WIDTH },
          y: { value: TOP_HEIGHT + 40 + stripsHeight },
          align: { value: 'right' },
          text: { value: 'green: capacity beyond the primary · red: overloaded · ▲ scale-out' },
          fontSize: { value: 9 },
          fill: { value: '#555' },
        },
      },
    },
  ];
}

export async function writeTracePlot(file: string, input: TracePlotInput): Promise<void> {
  const view = new vega.View(vega.parse(tracePlotSpec(input)), { renderer: 'none' });
  try {
    await writeFile(file, await view.toSVG());
  } finally {
    view.finalize();
  }
}
