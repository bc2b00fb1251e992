// Which health-watcher lanes a worker process serves (pure parsing; every integration test runs the lanes' loops on
// their own task queues through createWorker).
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_CACHED_WORKFLOWS,
  maxCachedWorkflowsFromEnvironment,
  observersFromEnvironment,
  watchLanesFromEnvironment,
} from '../src/worker.js';
import { watchLaneTaskQueue } from '../src/shared/healthWatch.js';
import { observerTaskQueue } from '../src/shared/observation.js';

describe('UNDERSTUDY_WATCH_LANES', () => {
  it('serves both lanes when unset or empty, and the named ones otherwise', () => {
    expect(watchLanesFromEnvironment(undefined)).toEqual(['a', 'b']);
    expect(watchLanesFromEnvironment(' ')).toEqual(['a', 'b']);
    expect(watchLanesFromEnvironment('b')).toEqual(['b']);
    expect(watchLanesFromEnvironment('a, b,a')).toEqual(['a', 'b']);
  });

  it('refuses a lane that does not exist, naming what it got', () => {
    expect(() => watchLanesFromEnvironment('a,c')).toThrow(
      'UNDERSTUDY_WATCH_LANES must name lanes from a, b separated by commas, got "a,c"',
    );
    expect(() => watchLanesFromEnvironment(',')).toThrow(/got ","/);
  });

  it('gives each lane a task queue of its own beside the main one', () => {
    expect(watchLaneTaskQueue('understudy', 'a')).toBe('understudy@watch-a');
    expect(watchLaneTaskQueue('understudy', 'b')).not.toBe(watchLaneTaskQueue('understudy', 'a'));
  });
});

describe('UNDERSTUDY_OBSERVERS', () => {
  it('runs the observers unless told 0, and refuses anything else by name', () => {
    expect(observersFromEnvironment(undefined)).toBe(true);
    expect(observersFromEnvironment('1')).toBe(true);
    expect(observersFromEnvironment('0')).toBe(false);
    expect(() => observersFromEnvironment('no')).toThrow('UNDERSTUDY_OBSERVERS must be 0 or 1, got "no"');
    expect(observerTaskQueue('understudy')).toBe('understudy@observe');
  });
});

describe('UNDERSTUDY_MAX_CACHED_WORKFLOWS', () => {
  it('keeps 500 workflows unless told a whole number of at least 2, and names what it refused', () => {
    expect(maxCachedWorkflowsFromEnvironment(undefined)).toBe(DEFAULT_MAX_CACHED_WORKFLOWS);
    expect(DEFAULT_MAX_CACHED_WORKFLOWS).toBe(500);
    expect(maxCachedWorkflowsFromEnvironment(' 2000 ')).toBe(2000);
    for (const bad of ['1', '2.5', 'many'])
      expect(() => maxCachedWorkflowsFromEnvironment(bad)).toThrow(
        `UNDERSTUDY_MAX_CACHED_WORKFLOWS must be a whole number of at least 2, got "${bad}"`,
      );
  });
});
