/**
 * Gathers concurrent utilisation (and recorded pair demand) reads into few: every pair on a worker observes on its
 * own timer, and a read per pair per tick is what a metrics store tires of first. Reads over the same window (same
 * start, end, step and resources — callers align windows to the step grid so they match) made in the same turn of
 * the event loop become one query per 100 hosts (or pairs), and each caller gets back its own.
 */
import { MicroBatcher } from '../forecast/microBatcher.js';
import type {
  HostToRead,
  MetricsStore,
  PairDemandPoint,
  PairDemandQuery,
  UtilisationQuery,
  UtilisationWindow,
} from './types.js';

export type UtilisationReader = (query: UtilisationQuery) => Promise<UtilisationWindow[]>;
export type PairDemandReader = (query: PairDemandQuery) => Promise<PairDemandPoint[]>;

/** 100 hosts per query: the simulator benchmark's best read throughput on the embedded InfluxDB. */
const DEFAULT_HOSTS_PER_READ = 100;

/**
 * Queries with the same window key share reads of `perRead` subjects (hosts, pairs) at a time; each query gets back
 * the rows whose owner it asked for.
 */
function batchByWindow<Query, Subject, Row>(args: {
  windowKey: (query: Query) => string;
  subjectsOf: (query: Query) => Subject[];
  idOf: (subject: Subject) => string;
  ownerOf: (row: Row) => string;
  read: (query: Query, subjects: Subject[]) => Promise<Row[]>;
  perRead: number;
}): (query: Query) => Promise<Row[]> {
  const batcher = new MicroBatcher<Query, Row[]>(async (queries) => {
    const groups = new Map<string, number[]>();
    queries.forEach((q, i) => {
      const key = args.windowKey(q);
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const results: (Row[] | Error)[] = new Array<Row[] | Error>(queries.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const first = queries[members[0]!]!;
        const subjects = new Map<string, Subject>();
        for (const i of members)
          for (const s of args.subjectsOf(queries[i]!)) if (!subjects.has(args.idOf(s))) subjects.set(args.idOf(s), s);
        const all = [...subjects.values()];
        const chunks: Subject[][] = [];
        for (let k = 0; k < all.length; k += args.perRead) chunks.push(all.slice(k, k + args.perRead));
        try {
          const rows = (await Promise.all(chunks.map((chunk) => args.read(first, chunk)))).flat();
          for (const i of members) {
            const mine = new Set(args.subjectsOf(queries[i]!).map(args.idOf));
            results[i] = rows.filter((row) => mine.has(args.ownerOf(row)));
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

export function batchUtilisationReads(
  store: Pick<MetricsStore, 'readUtilisation'>,
  { hostsPerRead = DEFAULT_HOSTS_PER_READ }: { hostsPerRead?: number } = {},
): UtilisationReader {
  return batchByWindow<UtilisationQuery, HostToRead, UtilisationWindow>({
    windowKey: (q) => [q.start.getTime(), q.end.getTime(), q.stepSeconds, (q.resources ?? []).join(',')].join('|'),
    subjectsOf: (q) => q.hosts,
    idOf: (h) => h.hostId,
    ownerOf: (w) => w.hostId,
    read: (q, hosts) => store.readUtilisation({ ...q, hosts }),
    perRead: hostsPerRead,
  });
}

export function batchPairDemandReads(
  store: Pick<MetricsStore, 'readPairDemand'>,
  { pairsPerRead = DEFAULT_HOSTS_PER_READ }: { pairsPerRead?: number } = {},
): PairDemandReader {
  return batchByWindow<PairDemandQuery, string, PairDemandPoint>({
    windowKey: (q) => `${q.start.getTime()}|${q.end.getTime()}`,
    subjectsOf: (q) => q.pairIds,
    idOf: (id) => id,
    ownerOf: (p) => p.pairId,
    read: (q, pairIds) => store.readPairDemand({ ...q, pairIds }),
    perRead: pairsPerRead,
  });
}
