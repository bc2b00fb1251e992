// Batching of concurrent utilisation and pair demand reads (pure logic over a recording store; the pair tests read the real InfluxDB
// through it).
import { describe, expect, it } from 'vitest';
import { batchPairDemandReads, batchUtilisationReads } from '../src/metrics/batchedReads.js';
import type { PairDemandQuery, UtilisationQuery, UtilisationWindow } from '../src/metrics/types.js';

const START = new Date('2026-11-26T12:00:00Z');
const END = new Date('2026-11-28T12:00:00Z');

function recordingStore(fail?: (query: UtilisationQuery) => boolean) {
  const queries: UtilisationQuery[] = [];
  return {
    queries,
    readUtilisation(query: UtilisationQuery): Promise<UtilisationWindow[]> {
      queries.push(query);
      if (fail?.(query)) return Promise.reject(new Error('influxdb: connection refused'));
      return Promise.resolve(
        query.hosts.map((h) => ({
          hostId: h.hostId,
          resource: 'cpu' as const,
          start: query.start.toISOString(),
          stepSeconds: query.stepSeconds,
          values: [h.networkMbps ?? null],
          issues: [],
        })),
      );
    },
  };
}

const read = (hostIds: string[], start = START) => ({
  hosts: hostIds.map((hostId, i) => ({ hostId, networkMbps: i + 1 })),
  start,
  end: END,
  stepSeconds: 300,
});

describe('batched utilisation reads', () => {
  it('serves concurrent reads of the same window with one query and gives each caller only its hosts', async () => {
    const store = recordingStore();
    const reader = batchUtilisationReads(store);
    const [a, b, c] = await Promise.all([reader(read(['p-1', 's-1'])), reader(read(['p-2'])), reader(read(['p-1']))]);
    expect(store.queries).toHaveLength(1);
    expect(store.queries[0]!.hosts.map((h) => h.hostId)).toEqual(['p-1', 's-1', 'p-2']);
    expect(a.map((w) => w.hostId)).toEqual(['p-1', 's-1']);
    expect(b.map((w) => w.hostId)).toEqual(['p-2']);
    expect(c.map((w) => w.hostId)).toEqual(['p-1']);
  });

  it('keeps reads of different windows apart, and splits a large batch into queries of hostsPerRead hosts', async () => {
    const store = recordingStore();
    const reader = batchUtilisationReads(store, { hostsPerRead: 2 });
    await Promise.all([
      reader(read(['p-1', 'p-2', 'p-3'])),
      reader(read(['p-4'])),
      reader(read(['p-9'], new Date('2026-11-26T12:05:00Z'))),
    ]);
    const sizes = store.queries.map((q) => `${q.start.toISOString()}:${q.hosts.length}`).sort();
    expect(sizes).toEqual(['2026-11-26T12:00:00.000Z:2', '2026-11-26T12:00:00.000Z:2', '2026-11-26T12:05:00.000Z:1']);
  });

  it("fails every caller of a failed query with the store's error, and no one else", async () => {
    const store = recordingStore((q) => q.start.getTime() === START.getTime());
    const reader = batchUtilisationReads(store);
    const results = await Promise.allSettled([
      reader(read(['p-1'])),
      reader(read(['p-2'])),
      reader(read(['p-3'], new Date('2026-11-26T12:05:00Z'))),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('influxdb: connection refused'));
  });
});

describe('batched reads of recorded pair demand', () => {
  it('serves concurrent reads of one window with a query per pairsPerRead pairs, each caller its own points', async () => {
    const queries: PairDemandQuery[] = [];
    const reader = batchPairDemandReads(
      {
        readPairDemand(query) {
          queries.push(query);
          return Promise.resolve(
            query.pairIds.map((pairId) => ({
              pairId,
              resource: 'cpu' as const,
              time: START,
              demand: 1,
              primaryHostId: 'h',
            })),
          );
        },
      },
      { pairsPerRead: 2 },
    );
    const window = { start: START, end: END };
    const [a, b, c, d] = await Promise.all([
      reader({ pairIds: ['p-1'], ...window }),
      reader({ pairIds: ['p-2'], ...window }),
      reader({ pairIds: ['p-3', 'p-1'], ...window }),
      reader({ pairIds: ['p-4'], start: new Date('2026-11-26T12:05:00Z'), end: END }),
    ]);
    expect(queries.map((q) => q.pairIds)).toEqual([['p-1', 'p-2'], ['p-3'], ['p-4']]);
    expect([a, b, c, d].map((points) => points.map((p) => p.pairId))).toEqual([
      ['p-1'],
      ['p-2'],
      ['p-1', 'p-3'],
      ['p-4'],
    ]);
  });
});
