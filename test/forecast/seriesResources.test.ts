// One mapping of series names to resources (LSTM channels), read by TypeScript and Python alike; the Python side
// checks the same examples in models/tests/test_data.py.
import { describe, expect, it } from 'vitest';
import { SERIES_RESOURCES, resourceOfSeries } from '../../src/forecast/seriesResources.js';

describe('resourceOfSeries', () => {
  it('maps every shared example to its resource', () => {
    expect(SERIES_RESOURCES.examples.length).toBeGreaterThanOrEqual(10);
    for (const [name, resource] of SERIES_RESOURCES.examples) expect(resourceOfSeries(name), name).toBe(resource);
  });

  it('reads a VM trace named *_net as network, not cpu', () => {
    expect(resourceOfSeries('vm113_net')).toBe('net');
    expect(resourceOfSeries('VM113_NET')).toBe('net');
  });
});
