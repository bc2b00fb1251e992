/**
 * Which resource (the LSTM channel) a series measures, from its name: the rules of models/series_resources.json,
 * the one mapping the Python trainer reads too, so a series is fed on the channel it was validated on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../stack/paths.js';
import { RESOURCES, type Resource } from './types.js';

export const SERIES_RESOURCES_FILE = join(PROJECT_ROOT, 'models', 'series_resources.json');

export interface SeriesResourceRules {
  default: Resource;
  rules: { resource: Resource; words: string[]; substrings: string[] }[];
  /** Name and resource pairs both languages' tests check. */
  examples: [string, Resource][];
}

function loadRules(): SeriesResourceRules {
  const rules = JSON.parse(readFileSync(SERIES_RESOURCES_FILE, 'utf8')) as SeriesResourceRules;
  for (const resource of [rules.default, ...rules.rules.map((r) => r.resource)]) {
    if (!RESOURCES.includes(resource))
      throw new Error(`${SERIES_RESOURCES_FILE}: unknown resource "${resource}" (one of ${RESOURCES.join(', ')})`);
  }
  return rules;
}

export const SERIES_RESOURCES = loadRules();

/** The resource a series' name says it measures, or undefined when no rule matches it. */
export function namedResourceOfSeries(seriesId: string): Resource | undefined {
  const name = seriesId.toLowerCase();
  const words = new Set(name.split(/[^a-z0-9]+/));
  const rule = SERIES_RESOURCES.rules.find(
    (r) => r.words.some((w) => words.has(w)) || r.substrings.some((s) => name.includes(s)),
  );
  return rule?.resource;
}

export function resourceOfSeries(seriesId: string): Resource {
  return namedResourceOfSeries(seriesId) ?? SERIES_RESOURCES.default;
}
