import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  nextCronTime,
  offPeakToScheduleSpec,
  quietestWindow,
  validateCron,
  validateOffPeakSpec,
  validateTimeZone,
} from '../src/policy/index.js';
import { NAB_DIR } from '../src/stack/paths.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('validateCron', () => {
  it.each([
    '* * * * *',
    '0 3 * * *',
    '*/15 1-5 * * 1-5',
    '0,30 22 * * sat,SUN',
    '5/10 0 1 jan-mar *',
    '0 2 29 2 *',
    '0 4 * * 7',
    '  0 4 * * 0  ',
  ])('accepts %s', (expr) => {
    expect(validateCron(expr)).toBeUndefined();
  });

  it.each([
    ['0 3 * *', /has 4 fields; expected 5/],
    ['', /has 0 fields/],
    ['61 * * * *', /minute field: 61 is out of range 0-59/],
    ['0 24 * * *', /hour field: 24 is out of range 0-23/],
    ['0 0 0 * *', /day-of-month field: 0 is out of range 1-31/],
    ['0 0 * 13 *', /month field: 13 is out of range 1-12/],
    ['0 0 * * 8', /day-of-week field: 8 is out of range 0-7/],
    ['0 0 * * mon-fry', /day-of-week field: 'fry' is not a number or a name/],
    ['*/0 * * * *', /minute field: step '0'/],
    ['0 5-2 * * *', /hour field: range '5-2' runs backwards/],
    ['0 1,,2 * * *', /hour field '1,,2' has an empty list item/],
    ['0 0 30 2 *', /day-of-month field: day 30 never occurs in feb/],
    ['0 0 31 4,6 *', /never occurs in apr, jun/],
  ])('rejects %s naming the field', (expr, message) => {
    expect(validateCron(expr)).toMatch(message);
  });
});

describe('validateTimeZone', () => {
  it('accepts IANA names and rejects others', () => {
    expect(validateTimeZone('UTC')).toBeUndefined();
    expect(validateTimeZone('Europe/Berlin')).toBeUndefined();
    expect(validateTimeZone('America/New_York')).toBeUndefined();
    expect(validateTimeZone('Mars/Olympus_Mons')).toMatch(/unknown time zone 'Mars\/Olympus_Mons'/);
    expect(validateTimeZone('')).toMatch(/IANA name/);
  });
});

describe('nextCronTime', () => {
  it('finds the next daily time in UTC, strictly after the given instant', () => {
    const after = Date.UTC(2026, 10, 28, 3, 0);
    expect(iso(nextCronTime('0 3 * * *', 'UTC', after))).toBe('2026-11-29T03:00:00.000Z');
    expect(iso(nextCronTime('0 3 * * *', 'UTC', after - 1))).toBe('2026-11-28T03:00:00.000Z');
    expect(iso(nextCronTime('*/15 * * * *', 'UTC', after + 1))).toBe('2026-11-28T03:15:00.000Z');
  });

  it('honours the time zone, including the daylight-saving offset of the date', () => {
    // 02:30 in Berlin is 01:30Z in winter (CET) and 00:30Z in summer (CEST).
    expect(iso(nextCronTime('30 2 * * *', 'Europe/Berlin', Date.UTC(2026, 0, 10)))).toBe('2026-01-10T01:30:00.000Z');
    expect(iso(nextCronTime('30 2 * * *', 'Europe/Berlin', Date.UTC(2026, 6, 10)))).toBe('2026-07-10T00:30:00.000Z');
    // A date east of UTC where the local day is already the next one.
    expect(iso(nextCronTime('0 9 * * *', 'Asia/Tokyo', Date.UTC(2026, 5, 1, 23, 0)))).toBe('2026-06-02T00:00:00.000Z');
  });

  it('skips a wall time that the spring change jumps over and fires a repeated one once', () => {
    // New York springs forward on 2026-03-08 at 02:00 → 03:00: 02:30 does not exist that day.
    const springDay = Date.UTC(2026, 2, 8, 5, 0); // 00:00 EST
    expect(iso(nextCronTime('30 2 * * *', 'America/New_York', springDay))).toBe('2026-03-09T06:30:00.000Z');
    // 03:30 exists and is already EDT (UTC−4).
    expect(iso(nextCronTime('30 3 * * *', 'America/New_York', springDay))).toBe('2026-03-08T07:30:00.000Z');
    // It falls back on 2026-11-01 at 02:00 → 01:00: 01:30 happens twice; the cron fires at the first (EDT) only.
    const fallDay = Date.UTC(2026, 10, 1, 4, 0); // 00:00 EDT
    const first = nextCronTime('30 1 * * *', 'America/New_York', fallDay);
    expect(iso(first)).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(nextCronTime('30 1 * * *', 'America/New_York', first ?? 0))).toBe('2026-11-02T06:30:00.000Z');
  });

  it('matches either day field when both are restricted, and week days by name', () => {
    // 2026-11-28 is a Saturday; "on the 1st or on Mondays" next fires Monday the 30th.
    const after = Date.UTC(2026, 10, 28, 12);
    expect(iso(nextCronTime('0 0 1 * mon', 'UTC', after))).toBe('2026-11-30T00:00:00.000Z');
    expect(iso(nextCronTime('0 0 1 * *', 'UTC', after))).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(nextCronTime('0 0 * * 7', 'UTC', after))).toBe('2026-11-29T00:00:00.000Z');
  });

  it('finds a leap day years ahead, and returns undefined for a date that never comes', () => {
    expect(iso(nextCronTime('0 0 29 2 *', 'UTC', Date.UTC(2026, 0, 1)))).toBe('2028-02-29T00:00:00.000Z');
    expect(nextCronTime('0 0 30 2 *', 'UTC', Date.UTC(2026, 0, 1))).toBeUndefined();
  });

  it('throws a clear error for a bad expression or time zone', () => {
    expect(() => nextCronTime('0 25 * * *', 'UTC', 0)).toThrow(/invalid cron '0 25 \* \* \*': hour field: 25/);
    expect(() => nextCronTime('0 1 * * *', 'Nowhere/Land', 0)).toThrow(/unknown time zone 'Nowhere\/Land'/);
  });
});

/** Five days of 5-minute samples following a daily sine that bottoms out at `troughMinute` UTC. */
const sineHistory = (troughMinute: number) => {
  const timestamps: number[] = [];
  const values: number[] = [];
  const start = Date.UTC(2026, 10, 1);
  for (let t = start; t < start + 5 * DAY; t += 5 * MINUTE) {
    const minuteOfDay = ((t - start) % DAY) / MINUTE;
    timestamps.push(t);
    values.push(50 - 30 * Math.cos((2 * Math.PI * (minuteOfDay - troughMinute)) / 1440));
  }
  return { timestamps, values };
};

describe('quietestWindow', () => {
  it('centres the window on the trough of a daily sine', () => {
    const window = quietestWindow(sineHistory(4 * 60), 60);
    // The hour centred on 04:00 opens at 03:30 (±one 5-minute sample).
    expect(Math.abs(window.startMinuteOfDay - 210)).toBeLessThanOrEqual(5);
    expect(window.meanPercent).toBeCloseTo(20, 0);
  });

  it('wraps around midnight', () => {
    const window = quietestWindow(sineHistory(10), 120);
    // The two quietest hours run from 23:10 to 01:10.
    expect(Math.abs(window.startMinuteOfDay - (1440 - 50))).toBeLessThanOrEqual(5);
  });

  it('reports the window in local time when asked', () => {
    // Trough at 04:00 UTC = 05:00 in Berlin in November (CET, UTC+1).
    const window = quietestWindow(sineHistory(4 * 60), 60, 'Europe/Berlin');
    expect(Math.abs(window.startMinuteOfDay - 270)).toBeLessThanOrEqual(5);
  });

  it('finds the quiet hours of a real trace (NAB rds_cpu_utilization_cc0c53)', () => {
    const csv = readFileSync(join(NAB_DIR, 'realAWSCloudwatch', 'rds_cpu_utilization_cc0c53.csv'), 'utf8');
    const rows = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','));
    const timestamps = rows.map(([ts]) => Date.parse(`${(ts ?? '').replace(' ', 'T')}Z`));
    const values = rows.map(([, v]) => Number(v));
    expect(timestamps.every(Number.isFinite)).toBe(true);
    const window = quietestWindow({ timestamps, values }, 120);
    // Brute force over the same data: the mean of every 2-hour window of the day, on 5-minute starts.
    const meanFrom = (start: number) => {
      let sum = 0;
      let count = 0;
      timestamps.forEach((t, i) => {
        const minute = Math.floor((t % DAY) / MINUTE);
        if ((minute - start + 1440) % 1440 < 120) {
          sum += values[i] ?? 0;
          count++;
        }
      });
      return sum / count;
    };
    const overall = values.reduce((a, b) => a + b, 0) / values.length;
    expect(window.meanPercent).toBeCloseTo(meanFrom(window.startMinuteOfDay), 6);
    expect(window.meanPercent).toBeLessThan(overall);
    for (let start = 0; start < 1440; start += 5)
      expect(window.meanPercent).toBeLessThanOrEqual(meanFrom(start) + 1e-9);
  });

  it('names bad input', () => {
    expect(() => quietestWindow({ timestamps: [1, 2], values: [1] }, 60)).toThrow(/2 timestamps but 1 values/);
    expect(() => quietestWindow({ timestamps: [], values: [] }, 60)).toThrow(/no finite samples/);
    expect(() => quietestWindow(sineHistory(0), 0)).toThrow(/windowMinutes is 0/);
  });
});

describe('offPeakToScheduleSpec', () => {
  it('passes a cron through with its time zone', () => {
    expect(offPeakToScheduleSpec({ kind: 'cron', cron: '0 3 * * sun', timeZone: 'Europe/Berlin' })).toEqual({
      cronExpressions: ['0 3 * * sun'],
      timezone: 'Europe/Berlin',
    });
  });

  it('turns the quietest window into a daily UTC cron', () => {
    const schedule = offPeakToScheduleSpec({ kind: 'forecast', windowMinutes: 60 }, sineHistory(4 * 60));
    expect(schedule.timezone).toBe('UTC');
    expect(schedule.cronExpressions).toHaveLength(1);
    const [minute, hour, ...rest] = (schedule.cronExpressions[0] ?? '').split(' ');
    expect(rest).toEqual(['*', '*', '*']);
    expect(Number(hour) * 60 + Number(minute)).toBe(schedule.quietWindow?.startMinuteOfDay);
    expect(validateCron(schedule.cronExpressions[0] ?? '')).toBeUndefined();
  });

  it('rejects invalid specs with the reason', () => {
    expect(() => offPeakToScheduleSpec({ kind: 'cron', cron: '0 0 30 2 *', timeZone: 'UTC' })).toThrow(/never fire/);
    expect(() => offPeakToScheduleSpec({ kind: 'forecast', windowMinutes: 60 })).toThrow(
      /needs the pair's utilisation history/,
    );
    expect(validateOffPeakSpec({ kind: 'cron', cron: '0 3 * * *', timeZone: 'Atlantis' })).toEqual([
      expect.stringMatching(/unknown time zone 'Atlantis'/),
    ]);
    expect(validateOffPeakSpec({ kind: 'forecast', windowMinutes: 2000 })).toEqual([
      expect.stringMatching(/windowMinutes is 2000/),
    ]);
  });
});
