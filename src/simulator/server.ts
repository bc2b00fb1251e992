/**
 * The fleet simulator's HTTP JSON API: `/v1/*` is the provider API the activities call (subject to injected latency
 * and errors), `/sim/*` controls the simulation (faults, clock, workloads, traces), `/health` answers without a token.
 *
 * Every request brings the simulated clock up to now first, validates its body (400 naming the field), acts
 * (404/409 from the fleet's rules, before any change) and commits the state to disk before it answers.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { parseTraceCsv, TraceParseError } from './demand.js';
import { SimulatorError } from './errors.js';
import { HealthCheckLog } from './healthCheckLog.js';
import { Fleet, initialFleetState, type FleetState } from './fleet.js';
import { AFTER_SEQ_DIGITS } from './history.js';
import { StateStore, type StoredTrace } from './persistence.js';
import * as s from './schemas.js';
import { TelegrafWriter, type InfluxTarget } from './telegraf.js';

export interface SimulatorOptions {
  port: number;
  host?: string;
  stateDir: string;
  /** Simulated seconds per real second. Default 60. */
  speed?: number;
  /** Simulated seconds between metric samples. Default 60. */
  metricsIntervalSeconds?: number;
  /** Simulated start time for a fresh state (a restarted simulator resumes its own clock). Default: now. */
  startAt?: Date;
  /** Where metrics go; none means no metrics are written. */
  influx?: InfluxTarget;
  /** When set, every request but /health needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Real milliseconds between clock ticks. Default 100. */
  tickMs?: number;
}

export interface RunningSimulator {
  url: string;
  port: number;
  fleet: Fleet;
  writer?: TelegrafWriter;
  close(): Promise<void>;
}

/** Simulated time runs at `speed` from a base; changing speed rebases so time never jumps. */
class SimClock {
  private baseSimMs: number;
  private baseRealMs = performance.now();
  constructor(
    simMs: number,
    public speed: number,
  ) {
    this.baseSimMs = simMs;
  }
  nowMs(): number {
    return Math.floor(this.baseSimMs + (performance.now() - this.baseRealMs) * this.speed);
  }
  setSpeed(speed: number): void {
    this.baseSimMs = this.nowMs();
    this.baseRealMs = performance.now();
    this.speed = speed;
  }
  jump(ms: number): void {
    this.baseSimMs += ms;
  }
}

const JSON_LIMIT_BYTES = 1_000_000;
const CSV_LIMIT_BYTES = 50_000_000;
const PERIODIC_SAVE_MS = 2_000;
/**
 * The longest `GET /v1/operations/:id?waitMs=` holds its answer for the operation to finish. A waiting read is answered
 * as the operation ends, where polling answered up to a poll later and sent ten requests a second per running
 * operation: in a region's failovers it was about a quarter of a worker's busy main thread.
 */
export const MAX_OPERATION_WAIT_MS = 10_000;

type Handler = (ctx: RequestContext) => Promise<[number, unknown]> | [number, unknown];
interface RequestContext {
  params: string[];
  url: URL;
  body: () => Promise<unknown>;
  text: () => Promise<string>;
}

function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new SimulatorError('payload_too_large', `request body exceeds ${limit} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new SimulatorError('bad_request', s.describeZodError(result.error));
  return result.data;
}

function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const metricsIntervalMs = (options.metricsIntervalSeconds ?? 60) * 1000;
  const holder: { state?: FleetState } = {};
  const store = new StateStore(options.stateDir, () => holder.state!);
  const state: FleetState = store.loadState() ?? initialFleetState((options.startAt ?? new Date()).getTime());
  holder.state = state;
  const storedTraces = store.loadTraces();
  const traces = new Map([...storedTraces].map(([id, t]) => [id, t.trace]));
  const writer = options.influx ? new TelegrafWriter(options.influx) : undefined;
  const fleet = new Fleet(state, traces, metricsIntervalMs, writer);
  const healthChecks = new HealthCheckLog();
  const clock = new SimClock(state.simulatedMs, options.speed ?? 60);
  store.saveNow();

  /** Operation id → the reads waiting for it to leave `running`, answered from `tick`. */
  const waiting = new Map<string, Set<() => void>>();
  const answerWaiting = () => {
    for (const [id, readers] of waiting) {
      // A pruned operation is answered too: the read then says it is unknown.
      if (state.operations[id]?.status === 'running') continue;
      waiting.delete(id);
      for (const answer of readers) answer();
    }
  };
  const untilFinished = (id: string, waitMs: number) =>
    new Promise<void>((resolve) => {
      let readers = waiting.get(id);
      if (!readers) waiting.set(id, (readers = new Set()));
      const answer = () => {
        clearTimeout(timer);
        readers.delete(answer);
        if (readers.size === 0 && waiting.get(id) === readers) waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(answer, waitMs);
      readers.add(answer);
    });
  const tick = () => {
    fleet.advance(clock.nowMs());
    if (waiting.size > 0) answerWaiting();
  };
  const ticker = setInterval(tick, options.tickMs ?? 100);
  let lastSavedMs = state.simulatedMs;
  const saver = setInterval(() => {
    if (state.simulatedMs !== lastSavedMs && store.saveIfStale(PERIODIC_SAVE_MS)) lastSavedMs = state.simulatedMs;
  }, PERIODIC_SAVE_MS);

  const action =
    <R>(schema: z.ZodType<R>, run: (body: R, params: string[]) => { operation: unknown; replayed: boolean }): Handler =>
    async ({ body, params }) => {
      const parsed = parse(schema, await body());
      const { operation, replayed } = run(parsed, params);
      return [replayed ? 200 : 202, operation];
    };
  const control =
    <R>(schema: z.ZodType<R>, run: (body: R, params: string[]) => unknown): Handler =>
    async ({ body, params }) => [200, run(parse(schema, await body()), params)];

  const p0 = (params: string[]): string => params[0] ?? '';

  const routes: [string, RegExp, Handler][] = [
    ['GET', /^\/health$/, () => [200, health()]],
    // ---- provider API
    ['GET', /^\/v1\/fleet$/, ({ url }) => [200, fleet.snapshot(url.searchParams.get('hostIds')?.split(','))]],
    ['GET', /^\/v1\/invariants$/, () => [200, fleet.invariants()]],
    ['GET', /^\/v1\/hosts\/([^/]+)$/, ({ params }) => [200, fleet.publicHost(fleet.host(p0(params)))]],
    ['GET', /^\/v1\/hosts\/([^/]+)\/health$/, ({ params }) => [200, fleet.healthCheck(p0(params))]],
    [
      'POST',
      /^\/v1\/health-checks$/,
      async ({ body }) => {
        const { hostIds } = parse(s.healthChecksSchema, await body());
        const answer = fleet.healthCheckMany(hostIds);
        healthChecks.record(answer.reports);
        return [200, answer];
      },
    ],
    [
      'GET',
      /^\/v1\/operations\/([^/]+)$/,
      async ({ params, url }) => {
        const id = p0(params);
        const waitMs = waitMsOf(url);
        if (waitMs > 0 && fleet.operation(id).status === 'running') await untilFinished(id, waitMs);
        return [200, fleet.operation(id)];
      },
    ],
    [
      'GET',
      /^\/v1\/replication$/,
      ({ url }) => [
        200,
        fleet.verifyReplication(
          parse(s.verifyReplicationSchema, {
            sourceHostId: url.searchParams.get('sourceHostId') ?? undefined,
            targetHostId: url.searchParams.get('targetHostId') ?? undefined,
          }),
        ),
      ],
    ],
    ['POST', /^\/v1\/hosts$/, action(s.provisionSchema, (b) => fleet.provisionHost(b))],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/activate$/,
      action(s.activateSchema, (b, p) => fleet.activateShadow({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/resize$/,
      action(s.resizeSchema, (b, p) => fleet.resizeHost({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/scale-up$/,
      action(s.resizeSchema, (b, p) => fleet.scaleUpShadow({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/deactivate$/,
      action(s.activateSchema, (b, p) => fleet.deactivateShadow({ ...b, hostId: p0(p) })),
    ],
    ['POST', /^\/v1\/hosts\/([^/]+)\/role$/, action(s.roleSchema, (b, p) => fleet.setRole({ ...b, hostId: p0(p) }))],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/fence$/,
      action(s.hostActionSchema, (b, p) => fleet.fenceHost({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/decommission$/,
      action(s.hostActionSchema, (b, p) => fleet.decommissionHost({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/hosts\/([^/]+)\/configuration$/,
      action(s.configurationSchema, (b, p) => fleet.syncConfiguration({ ...b, hostId: p0(p) })),
    ],
    [
      'POST',
      /^\/v1\/workloads\/([^/]+)\/migrate$/,
      action(s.migrateSchema, (b, p) => fleet.migrateWorkload({ ...b, workloadId: p0(p) })),
    ],
    ['POST', /^\/v1\/replication$/, action(s.startReplicationSchema, (b) => fleet.startReplication(b))],
    // ---- simulator control
    ['GET', /^\/sim\/status$/, () => [200, status()]],
    ['GET', /^\/sim\/health-checks$/, () => [200, healthChecks.report()]],
    [
      'DELETE',
      /^\/sim\/health-checks$/,
      () => {
        healthChecks.reset();
        return [200, healthChecks.report()];
      },
    ],
    ['GET', /^\/sim\/history$/, ({ url }) => [200, fleet.history.page(afterSeqOf(url))]],
    [
      'PUT',
      /^\/sim\/clock$/,
      control(s.clockSchema, (b) => {
        clock.setSpeed(b.speed);
        return status();
      }),
    ],
    [
      'POST',
      /^\/sim\/clock\/advance$/,
      control(s.advanceSchema, (b) => {
        clock.jump(b.seconds * 1000);
        tick();
        return status();
      }),
    ],
    ['PUT', /^\/sim\/delays$/, control(s.delaysSchema, (b) => Object.assign(state.delays, b))],
    ['PUT', /^\/sim\/faults\/api$/, control(s.apiFaultsSchema, (b) => Object.assign(state.faults, b))],
    ['PUT', /^\/sim\/replication$/, control(s.replicationSettingsSchema, (b) => fleet.setReplicationSettings(b))],
    ['POST', /^\/sim\/hosts\/([^/]+)\/fail$/, ({ params }) => [200, fleet.failHost(p0(params))]],
    ['POST', /^\/sim\/hosts\/([^/]+)\/recover$/, ({ params }) => [200, fleet.recoverHost(p0(params))]],
    [
      'POST',
      /^\/sim\/hosts\/([^/]+)\/flap$/,
      control(s.flapSchema, (b, p) => fleet.startFlapping(p0(p), b.periodSeconds)),
    ],
    ['POST', /^\/sim\/hosts\/([^/]+)\/stop-flapping$/, ({ params }) => [200, fleet.stopFlapping(p0(params))]],
    [
      'POST',
      /^\/sim\/hosts\/([^/]+)\/faulty-configuration$/,
      control(s.faultyConfigurationSchema, (b, p) => fleet.setFaultyConfiguration(p0(p), b.values)),
    ],
    [
      'POST',
      /^\/sim\/hosts\/([^/]+)\/degrade$/,
      control(s.degradeSchema, (b, p) => fleet.degradeHost(p0(p), b.capacity)),
    ],
    ['POST', /^\/sim\/zones\/fail$/, control(s.zoneSchema, (b) => fleet.setZone(b.region, b.zone, true))],
    ['POST', /^\/sim\/zones\/recover$/, control(s.zoneSchema, (b) => fleet.setZone(b.region, b.zone, false))],
    ['POST', /^\/sim\/regions\/fail$/, control(s.regionSchema, (b) => fleet.setZone(b.region, undefined, true))],
    ['POST', /^\/sim\/regions\/recover$/, control(s.regionSchema, (b) => fleet.setZone(b.region, undefined, false))],
    ['POST', /^\/sim\/workloads$/, control(s.createWorkloadSchema, (b) => fleet.createWorkload(b))],
    ['POST', /^\/sim\/seed$/, control(s.seedSchema, (b) => fleet.seed(b))],
    ['GET', /^\/sim\/traces\/([^/]+)$/, ({ params }) => [200, traceSummary(p0(params))]],
    ['PUT', /^\/sim\/traces\/([^/]+)$/, async ({ params, text }) => [201, uploadTrace(p0(params), await text())]],
    [
      'GET',
      /^\/sim\/hosts\/([^/]+)\/utilisation$/,
      ({ params }) => [200, fleet.utilisationOf(fleet.host(p0(params)), state.simulatedMs)],
    ],
  ];

  function waitMsOf(url: URL): number {
    const given = url.searchParams.get('waitMs') ?? '0';
    const waitMs = /^\d{1,6}$/.test(given) ? Number(given) : Number.NaN;
    if (!(waitMs <= MAX_OPERATION_WAIT_MS))
      throw new SimulatorError(
        'bad_request',
        `waitMs must be a whole number of milliseconds from 0 to ${MAX_OPERATION_WAIT_MS} (got "${given}")`,
      );
    return waitMs;
  }

  function afterSeqOf(url: URL): number {
    const given = url.searchParams.get('afterSeq') ?? '0';
    if (!new RegExp(`^\\d{1,${AFTER_SEQ_DIGITS}}$`).test(given))
      throw new SimulatorError(
        'bad_request',
        `afterSeq must be a whole number of at most ${AFTER_SEQ_DIGITS} digits (got "${given}")`,
      );
    return Number(given);
  }

  function traceSummary(traceId: string) {
    const stored = storedTraces.get(traceId);
    if (!stored) throw new SimulatorError('not_found', `trace "${traceId}" does not exist`);
    return stored.summary;
  }

  function uploadTrace(traceId: string, csv: string) {
    if (!s.ID_PATTERN.test(traceId)) {
      throw new SimulatorError('bad_request', 'traceId must be 1-100 letters, digits, ".", "_" or "-"');
    }
    if (storedTraces.has(traceId)) throw new SimulatorError('conflict', `trace "${traceId}" already exists`);
    let parsed: StoredTrace;
    try {
      parsed = parseTraceCsv(traceId, csv);
    } catch (error) {
      if (error instanceof TraceParseError) {
        throw new SimulatorError('bad_request', error.message, { badRows: error.badRows });
      }
      throw error;
    }
    store.saveTrace(parsed);
    storedTraces.set(traceId, parsed);
    traces.set(traceId, parsed.trace);
    return parsed.summary;
  }

  function health() {
    return {
      ok: true,
      now: new Date(state.simulatedMs).toISOString(),
      speed: clock.speed,
      hosts: Object.keys(state.hosts).length,
      workloads: Object.keys(state.workloads).length,
    };
  }

  function status() {
    return {
      ...health(),
      metricsIntervalSeconds: metricsIntervalMs / 1000,
      metrics: writer ? { ...writer.stats, database: options.influx?.database } : undefined,
      delays: state.delays,
      faults: state.faults,
      replication: state.replicationSettings,
      downZones: state.downZones,
      downRegions: state.downRegions,
      flapping: Object.keys(state.flapping),
    };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://simulator');
    const method = request.method ?? 'GET';
    let status = 200;
    let payload: unknown;
    try {
      if (url.pathname !== '/health' && options.token !== undefined) {
        const header = request.headers.authorization ?? '';
        const given = header.startsWith('Bearer ') ? header.slice(7) : '';
        if (!tokensEqual(given, options.token)) {
          throw new SimulatorError('unauthorized', 'missing or wrong API token (send Authorization: Bearer <token>)');
        }
      }
      const matching = routes.filter(([, pattern]) => pattern.test(url.pathname));
      const route = matching.find(([m]) => m === method);
      if (!route) {
        if (matching.length > 0) {
          status = 405;
          payload = {
            error: {
              code: 'bad_request',
              message: `${method} is not allowed on ${url.pathname}; use ${matching.map(([m]) => m).join(' or ')}`,
            },
          };
          return;
        }
        throw new SimulatorError('not_found', `no such endpoint: ${method} ${url.pathname}`);
      }
      if (url.pathname.startsWith('/v1/')) {
        // Injected provider trouble, before anything acts: the call fails as a whole or not at all.
        if (state.faults.apiLatencyMs > 0) await new Promise((r) => setTimeout(r, state.faults.apiLatencyMs));
        if (state.faults.apiErrorRate > 0 && Math.random() < state.faults.apiErrorRate) {
          throw new SimulatorError('unavailable', 'the provider API is failing (injected fault); retry later');
        }
      }
      const params = (route[1].exec(url.pathname) ?? []).slice(1).map((p) => decodeURIComponent(p));
      tick();
      const context: RequestContext = {
        params,
        url,
        text: () => readBody(request, CSV_LIMIT_BYTES),
        body: async () => {
          const raw = await readBody(request, JSON_LIMIT_BYTES);
          if (raw.trim() === '') return {};
          try {
            return JSON.parse(raw) as unknown;
          } catch (error) {
            throw new SimulatorError('bad_request', `request body is not valid JSON: ${(error as Error).message}`);
          }
        },
      };
      const [code, result] = await route[2](context);
      // A batched health check is a read sent as POST (its list of ids would not fit a URL): nothing to commit.
      if (method !== 'GET' && url.pathname !== '/v1/health-checks') await store.commit();
      status = code;
      payload = result;
    } catch (error) {
      if (error instanceof SimulatorError) {
        status = error.status;
        payload = {
          error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
        };
      } else {
        status = 500;
        payload = { error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } };
        console.error(error);
      }
    } finally {
      const body = JSON.stringify(payload);
      response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    }
  }

  const server: Server = createServer((request, response) => {
    void handle(request, response);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    fleet,
    ...(writer ? { writer } : {}),
    async close() {
      clearInterval(ticker);
      clearInterval(saver);
      for (const readers of waiting.values()) for (const answer of readers) answer();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      tick();
      store.saveNow();
      await writer?.drain();
    },
  };
}
