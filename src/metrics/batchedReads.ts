/**
 * Gathers concurrent utilisation reads into few: every pair on a worker observes on its own timer, and a read per
 * pair per tick is what a metrics store tires of first. Reads over the same window (same start, end, step and
 * resources — callers align windows to the step grid so they match) made in the same turn of the event loop become
 * one query per `hostsPerRead` hosts, and each caller gets back its own hosts' windows.
 */
import { MicroBatcher } from '../forecast/microBatcher.js';
import type { HostToRead, MetricsStore, UtilisationQuery, UtilisationWindow } from './types.js';

export type UtilisationReader = (query: UtilisationQuery) => Promise<UtilisationWindow[]>;

/** 100 hosts per query: the simulator benchmark's best read throughput on the embedded InfluxDB. */
const DEFAULT_HOSTS_PER_READ = 100;

export function batchUtilisationReads(
  store: Pick<MetricsStore, 'readUtilisation'>,
  { hostsPerRead = DEFAULT_HOSTS_PER_READ }: { hostsPerRead?: number } = {},
): UtilisationReader {
  const batcher = new MicroBatcher<UtilisationQuery, UtilisationWindow[]>(async (queries) => {
    const groups = new Map<string, number[]>();
    queries.forEach((q, i) => {
      const key = [q.start.getTime(), q.end.getTime(), q.stepSeconds, (q.resources ?? []).join(',')].join('|');
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const results: (UtilisationWindow[] | Error)[] = new Array<UtilisationWindow[] | Error>(queries.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const first = queries[members[0]!]!;
        const hosts = new Map<string, HostToRead>();
        for (const i of members) for (const h of queries[i]!.hosts) if (!hosts.has(h.hostId)) hosts.set(h.hostId, h);
        const all = [...hosts.values()];
        const chunks: HostToRead[][] = [];
        for (let k = 0; k < all.length; k += hostsPerRead) chunks.push(all.slice(k, k + hostsPerRead));
        try {
          const windows = (
            await Promise.all(chunks.map((chunk) => store.readUtilisation({ ...first, hosts: chunk })))
          ).flat();
          for (const i of members) {
            const mine = new Set(queries[i]!.hosts.map((h) => h.hostId));
            results[i] = windows.filter((w) => mine.has(w.hostId));
          }
        } catch (error) {
          for (const i of members) results[i] = error instanceof Error ? error : new Error(String(error));
        }
      }),
    );
    return results;
  });
  return (query) => batcher.submit(query);
}
