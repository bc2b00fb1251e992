/**
 * Off-peak windows for role swaps: a standard 5-field cron in the pair's IANA time zone, or the quietest stretch of
 * the day learnt from the pair's history. Pure: time zones go through `Intl.DateTimeFormat`, which Temporal's
 * workflow sandbox provides deterministically, and every instant comes in as an argument.
 *
 * Cron semantics are Vixie cron's (and Temporal's): minute hour day-of-month month day-of-week, where day-of-week 0
 * and 7 are Sunday; when both day fields are restricted a day matching either one fires. In a time zone with daylight
 * saving, a wall-clock time skipped by the spring change does not fire that day, and one repeated by the autumn
 * change fires once, at its first occurrence.
 */
import type { OffPeakSchedule, OffPeakSpec, QuietWindow } from './types.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const MINUTES_PER_DAY = 1440;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** The first name's value (months count from 1, week days from 0). */
  nameBase?: number;
}

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES, nameBase: 0 },
];

/** Longest days in each month (February counts its leap day, which does come round). */
const MAX_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

interface ParsedCron {
  minutes: boolean[];
  hours: boolean[];
  daysOfMonth: boolean[];
  months: boolean[];
  /** Index 0–6, Sunday = 0 (7 folded into 0). */
  daysOfWeek: boolean[];
  /** A day field that starts with `*` does not restrict; only when both restrict does either one match. */
  domRestricted: boolean;
  dowRestricted: boolean;
}

class CronError extends Error {}

function parseValue(text: string, field: FieldSpec): number {
  if (/^\d+$/.test(text)) return Number(text);
  const index = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index >= 0) return index + (field.nameBase ?? 0);
  throw new CronError(
    `${field.name} field: '${text}' is not a number${field.names ? ` or a name (${field.names.join(', ')})` : ''}`,
  );
}

function parseField(text: string, field: FieldSpec): boolean[] {
  const allowed = new Array<boolean>(field.max + 1).fill(false);
  if (text === '') throw new CronError(`${field.name} field is empty`);
  for (const part of text.split(',')) {
    if (part === '') throw new CronError(`${field.name} field '${text}' has an empty list item`);
    const [range = '', stepText, extra] = part.split('/');
    if (extra !== undefined) throw new CronError(`${field.name} field: '${part}' has more than one '/'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw new CronError(`${field.name} field: step '${stepText}' in '${part}' must be a positive whole number`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === '*') {
      low = field.min;
      high = field.max;
    } else if (range.includes('-')) {
      const [from = '', to = '', more] = range.split('-');
      if (more !== undefined) throw new CronError(`${field.name} field: '${range}' is not a range like 1-5`);
      low = parseValue(from, field);
      high = parseValue(to, field);
      if (low > high)
        throw new CronError(`${field.name} field: range '${range}' runs backwards (${low} is after ${high})`);
    } else {
      low = parseValue(range, field);
      // `5/15` means from 5 to the end in steps of 15, as in Vixie cron.
      high = stepText !== undefined ? field.max : low;
    }
    for (const value of [low, high])
      if (value < field.min || value > field.max)
        throw new CronError(`${field.name} field: ${value} is out of range ${field.min}-${field.max}`);
    for (let value = low; value <= high; value += step) allowed[value] = true;
  }
  return allowed;
}

function parseCron(expr: string): ParsedCron {
  if (typeof expr !== 'string') throw new CronError(`cron expression must be a string, got ${typeof expr}`);
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '')
    throw new CronError(
      `cron expression '${expr}' has ${parts[0] === '' ? 0 : parts.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    );
  const [minuteText, hourText, domText, monthText, dowText] = parts as [string, string, string, string, string];
  const [minuteSpec, hourSpec, domSpec, monthSpec, dowSpec] = FIELDS as [
    FieldSpec,
    FieldSpec,
    FieldSpec,
    FieldSpec,
    FieldSpec,
  ];
  const dow = parseField(dowText, dowSpec);
  if (dow[7] === true) dow[0] = true;
  return {
    minutes: parseField(minuteText, minuteSpec),
    hours: parseField(hourText, hourSpec),
    daysOfMonth: parseField(domText, domSpec),
    months: parseField(monthText, monthSpec),
    daysOfWeek: dow.slice(0, 7),
    domRestricted: !domText.startsWith('*'),
    dowRestricted: !dowText.startsWith('*'),
  };
}

/** Whether some calendar date matches the day and month fields at all (e.g. `0 0 30 2 *` never does). */
function neverFiresReason(cron: ParsedCron): string | undefined {
  if (cron.dowRestricted) return undefined; // some day of the week always comes round
  for (let month = 1; month <= 12; month++) {
    if (!cron.months[month]) continue;
    const maxDay = MAX_DAYS_IN_MONTH[month - 1] ?? 31;
    for (let day = 1; day <= maxDay; day++) if (cron.daysOfMonth[day]) return undefined;
  }
  const months = MONTH_NAMES.filter((_, i) => cron.months[i + 1]).join(', ');
  const days = cron.daysOfMonth.flatMap((on, day) => (on ? [day] : [])).join(', ');
  return `day-of-month field: day ${days} never occurs in ${months}, so the schedule would never fire`;
}

/** An error message naming the bad field, or undefined when the expression is a valid 5-field cron that fires. */
export function validateCron(expr: string): string | undefined {
  try {
    return neverFiresReason(parseCron(expr));
  } catch (error) {
    if (error instanceof CronError) return error.message;
    throw error;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** An error message for a time zone that is not an IANA name the runtime knows, or undefined when it is valid. */
export function validateTimeZone(timeZone: string): string | undefined {
  if (typeof timeZone !== 'string' || timeZone.trim() === '')
    return `time zone is ${JSON.stringify(timeZone)}; give an IANA name such as Europe/Berlin or UTC`;
  try {
    formatterFor(timeZone);
    return undefined;
  } catch {
    return `unknown time zone '${timeZone}'; give an IANA name such as Europe/Berlin or UTC`;
  }
}

/** The wall-clock time in `timeZone` at an instant, as if it were UTC (epoch ms, whole seconds). */
function wallClock(epochMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return Math.floor(epochMs / 1000) * 1000;
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(epochMs))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
}

/**
 * The first instant at which the clock in `timeZone` shows `wall` (a wall time encoded as UTC ms), or undefined
 * when daylight saving skips that wall time. Offsets change at most twice in three days, so the offsets a day and a
 * half either side are the only candidates.
 */
function instantOfWallTime(wall: number, timeZone: string): number | undefined {
  if (timeZone === 'UTC') return wall;
  const offsets = new Set([wallClock(wall - 1.5 * DAY_MS, timeZone) - (wall - 1.5 * DAY_MS)]);
  offsets.add(wallClock(wall + 1.5 * DAY_MS, timeZone) - (wall + 1.5 * DAY_MS));
  const matches = [...offsets].map((offset) => wall - offset).filter((t) => wallClock(t, timeZone) === wall);
  return matches.length === 0 ? undefined : Math.min(...matches);
}

/** How far ahead `nextCronTime` looks: past two leap days, the rarest date a valid cron can ask for. */
const SEARCH_DAYS = 9 * 366;

/**
 * The first instant strictly after `afterEpochMs` at which the cron fires in `timeZone`; undefined when it never
 * fires (e.g. `0 0 30 2 *`, February 30th). Throws an Error naming the fault for an invalid expression or zone.
 */
export function nextCronTime(expr: string, timeZone: string, afterEpochMs: number): number | undefined {
  const cron = parseCronOrThrow(expr);
  const zoneFault = validateTimeZone(timeZone);
  if (zoneFault !== undefined) throw new Error(zoneFault);
  if (!Number.isFinite(afterEpochMs)) throw new Error(`nextCronTime: afterEpochMs is ${String(afterEpochMs)}`);

  const hours = cron.hours.flatMap((on, h) => (on ? [h] : []));
  const minutes = cron.minutes.flatMap((on, m) => (on ? [m] : []));
  const startWall = wallClock(afterEpochMs, timeZone);
  const firstDay = Math.floor(startWall / DAY_MS) * DAY_MS;
  for (let i = 0; i <= SEARCH_DAYS; i++) {
    const dayStart = firstDay + i * DAY_MS;
    const date = new Date(dayStart);
    if (!cron.months[date.getUTCMonth() + 1]) continue;
    const domMatch = cron.daysOfMonth[date.getUTCDate()] === true;
    const dowMatch = cron.daysOfWeek[date.getUTCDay()] === true;
    const dayMatches =
      cron.domRestricted && cron.dowRestricted
        ? domMatch || dowMatch
        : cron.domRestricted
          ? domMatch
          : cron.dowRestricted
            ? dowMatch
            : true;
    if (!dayMatches) continue;
    for (const hour of hours)
      for (const minute of minutes) {
        const wall = dayStart + hour * 3_600_000 + minute * MINUTE_MS;
        // Wall times well before the start cannot map to a later instant (offsets shift by at most 2 h at a change).
        if (wall < startWall - 3 * 3_600_000) continue;
        const instant = instantOfWallTime(wall, timeZone);
        if (instant !== undefined && instant > afterEpochMs) return instant;
      }
  }
  return undefined;
}

function parseCronOrThrow(expr: string): ParsedCron {
  try {
    return parseCron(expr);
  } catch (error) {
    if (error instanceof CronError) throw new Error(`invalid cron '${String(expr)}': ${error.message}`);
    throw error;
  }
}

/**
 * The quietest `windowMinutes`-long stretch of the day: the history is averaged by time of day (minute of the day in
 * `timeZone`, default UTC) across all its days, and the window with the lowest mean wins, wrapping past midnight.
 * Windows open at a minute of the day the history has samples for; ties go to the earliest. Throws an Error naming
 * the fault for mismatched arrays, no finite samples, or a window outside (0, 1440] minutes.
 */
export function quietestWindow(
  history: { timestamps: readonly number[]; values: readonly number[] },
  windowMinutes: number,
  timeZone = 'UTC',
): QuietWindow {
  if (!Number.isFinite(windowMinutes) || windowMinutes <= 0 || windowMinutes > MINUTES_PER_DAY)
    throw new Error(`quietestWindow: windowMinutes is ${String(windowMinutes)}; it must be in (0, 1440]`);
  const { timestamps, values } = history;
  if (timestamps.length !== values.length)
    throw new Error(
      `quietestWindow: history has ${timestamps.length} timestamps but ${values.length} values; they must pair up`,
    );
  const zoneFault = validateTimeZone(timeZone);
  if (zoneFault !== undefined) throw new Error(`quietestWindow: ${zoneFault}`);

  const sums = new Array<number>(MINUTES_PER_DAY).fill(0);
  const counts = new Array<number>(MINUTES_PER_DAY).fill(0);
  let samples = 0;
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i];
    const v = values[i];
    if (t === undefined || v === undefined || !Number.isFinite(t) || !Number.isFinite(v)) continue;
    const wall = wallClock(t, timeZone);
    const minute = Math.floor((((wall % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
    sums[minute] = (sums[minute] ?? 0) + v;
    counts[minute] = (counts[minute] ?? 0) + 1;
    samples++;
  }
  if (samples === 0) throw new Error('quietestWindow: the history has no finite samples');

  // Prefix sums over two days, so a window wrapping past midnight is one contiguous slice.
  const width = Math.ceil(windowMinutes);
  const prefixSum = [0];
  const prefixCount = [0];
  for (let m = 0; m < 2 * MINUTES_PER_DAY; m++) {
    prefixSum.push((prefixSum[m] ?? 0) + (sums[m % MINUTES_PER_DAY] ?? 0));
    prefixCount.push((prefixCount[m] ?? 0) + (counts[m % MINUTES_PER_DAY] ?? 0));
  }
  let best: { start: number; mean: number } | undefined;
  for (let start = 0; start < MINUTES_PER_DAY; start++) {
    if ((counts[start] ?? 0) === 0) continue;
    const end = start + Math.min(width, MINUTES_PER_DAY);
    const count = (prefixCount[end] ?? 0) - (prefixCount[start] ?? 0);
    const mean = ((prefixSum[end] ?? 0) - (prefixSum[start] ?? 0)) / count;
    if (best === undefined || mean < best.mean) best = { start, mean };
  }
  if (best === undefined) throw new Error('quietestWindow: the history has no finite samples');
  return { startMinuteOfDay: best.start, windowMinutes, meanPercent: best.mean, timeZone };
}

/** Every fault of an off-peak spec, one sentence each; empty when valid (for config and update validators). */
export function validateOffPeakSpec(spec: OffPeakSpec): string[] {
  if (spec === null || typeof spec !== 'object') return ['off-peak spec is missing'];
  if (spec.kind === 'cron') {
    const faults: string[] = [];
    const cronFault = validateCron(spec.cron);
    if (cronFault !== undefined) faults.push(`invalid cron '${String(spec.cron)}': ${cronFault}`);
    const zoneFault = validateTimeZone(spec.timeZone);
    if (zoneFault !== undefined) faults.push(zoneFault);
    return faults;
  }
  if (spec.kind === 'forecast') {
    const w = spec.windowMinutes;
    return typeof w === 'number' && Number.isFinite(w) && w > 0 && w <= MINUTES_PER_DAY
      ? []
      : [`windowMinutes is ${String(w)}; it must be in (0, 1440]`];
  }
  return [`off-peak kind '${String((spec as { kind: unknown }).kind)}' is neither 'cron' nor 'forecast'`];
}

/**
 * The Temporal `ScheduleSpec` calendar for an off-peak spec: the cron in its own zone, or, for `forecast`, a daily
 * cron at the start of the history's quietest window in UTC. Throws an Error naming the fault for an invalid spec or
 * a `forecast` spec without history.
 */
export function offPeakToScheduleSpec(
  spec: OffPeakSpec,
  history?: { timestamps: readonly number[]; values: readonly number[] },
): OffPeakSchedule {
  const faults = validateOffPeakSpec(spec);
  if (faults.length > 0) throw new Error(`invalid off-peak spec: ${faults.join('; ')}`);
  if (spec.kind === 'cron') return { cronExpressions: [spec.cron.trim()], timezone: spec.timeZone };
  if (history === undefined || history.timestamps.length === 0)
    throw new Error("off-peak kind 'forecast' needs the pair's utilisation history to find its quietest window");
  const window = quietestWindow(history, spec.windowMinutes, 'UTC');
  const hour = Math.floor(window.startMinuteOfDay / 60);
  const minute = window.startMinuteOfDay % 60;
  return { cronExpressions: [`${minute} ${hour} * * *`], timezone: 'UTC', quietWindow: window };
}
