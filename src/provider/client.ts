/**
 * `HttpFleetProvider`: the `FleetProvider` the activities use, over the simulator's HTTP JSON API (or any provider
 * speaking it). Every call has a real timeout; every failure is a `ProviderError` whose `retryable` says whose fault
 * it is: 4xx answers are the caller's (permanent), 5xx answers, timeouts and unreachable servers the provider's.
 */
import type {
  ActivateShadowRequest,
  DeactivateShadowRequest,
  FleetProvider,
  FleetSnapshot,
  HealthReport,
  HealthReports,
  Host,
  HostActionRequest,
  InvariantReport,
  MigrateWorkloadRequest,
  Operation,
  OperationKind,
  ProviderErrorCode,
  ProvisionHostRequest,
  ReplicationRequest,
  ReplicationStatus,
  ResizeHostRequest,
  SetRoleRequest,
  StartReplicationRequest,
  SyncConfigurationRequest,
  WaitOptions,
} from './types.js';
import { PROVIDER_ERROR_STATUS, isRetryableProviderError } from './types.js';

export class ProviderError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    /** The HTTP status, when the provider answered. */
    readonly status?: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ProviderError';
    this.retryable = isRetryableProviderError(code);
  }
}

export interface HttpFleetProviderOptions {
  /** Base URL, e.g. http://127.0.0.1:18090 */
  url: string;
  token?: string;
  /** Per request, real milliseconds. Default 5000. */
  requestTimeoutMs?: number;
}

const KNOWN_CODES = new Set(Object.keys(PROVIDER_ERROR_STATUS));

/** The code for an HTTP status when the body did not name a known one. */
function codeForStatus(status: number): ProviderErrorCode {
  if (status === 400 || status === 405 || status === 422) return 'bad_request';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 413) return 'payload_too_large';
  if (status === 504) return 'timeout';
  if (status >= 500) return status === 500 ? 'internal' : 'unavailable';
  return 'bad_request';
}

/**
 * Waits `ms`, or rejects as soon as `signal` aborts. The abort listener goes when the wait ends: one wait for an
 * operation sleeps hundreds of times on the same activity's signal, and listeners left behind piled up on it.
 */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const aborted = () => reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) return aborted();
    const onAbort = () => {
      clearTimeout(timer);
      aborted();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * `FleetProvider.waitForOperation` over any provider's `getOperation`: polls until the operation leaves `running`,
 * reporting each state to `onProgress`.
 */
export async function pollOperation<K extends OperationKind>(
  getOperation: (id: string) => Promise<Operation<K>>,
  operation: Operation<K> | string,
  options: WaitOptions = {},
): Promise<Operation<K>> {
  const id = typeof operation === 'string' ? operation : operation.id;
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  let current = typeof operation === 'string' ? await getOperation(id) : operation;
  for (;;) {
    options.onProgress?.(current);
    if (current.status === 'succeeded') return current;
    if (current.status === 'failed') {
      throw new ProviderError(
        'operation_failed',
        `operation ${id} (${current.kind}) failed: ${current.error?.message ?? 'no reason given'}`,
        undefined,
        current.error,
      );
    }
    if (Date.now() > deadline) {
      throw new ProviderError(
        'timeout',
        `operation ${id} (${current.kind}) still running after ${options.timeoutMs} ms`,
      );
    }
    await sleep(options.pollIntervalMs ?? 250, options.signal);
    current = await getOperation(id);
  }
}

/** How long one read of a running operation waits for it to finish (a heartbeat a second while it runs). */
const OPERATION_WAIT_MS = 1_000;

export class HttpFleetProvider implements FleetProvider {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpFleetProviderOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  /** One HTTP round trip; public so the simulator's control client shares its timeouts and error mapping. */
  async request<T>(method: string, path: string, body?: unknown, rawBody?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (rawBody !== undefined) headers['content-type'] = 'text/csv';
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // The timeout covers the body too: a large answer that streams past it must fail as this call, not as a bare
      // DOMException nobody can place (a 10,000-pair bench:failover run ended on one).
      text = await response.text();
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new ProviderError(
          'timeout',
          `${method} ${path}: no answer from the provider within ${this.timeoutMs} ms`,
        );
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ProviderError(
        'unavailable',
        `${method} ${path}: cannot reach the provider at ${this.base} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
      );
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      const code =
        error?.code !== undefined && KNOWN_CODES.has(error.code)
          ? (error.code as ProviderErrorCode)
          : codeForStatus(response.status);
      throw new ProviderError(
        code,
        `${method} ${path}: ${error?.message ?? `HTTP ${response.status} ${text.slice(0, 200)}`}`,
        response.status,
        error?.details,
      );
    }
    if (parsed === undefined) {
      throw new ProviderError('internal', `${method} ${path}: the provider answered ${response.status} without JSON`);
    }
    return parsed as T;
  }

  private hostPath(hostId: string, action: string): string {
    return `/v1/hosts/${encodeURIComponent(hostId)}/${action}`;
  }

  provisionHost(request: ProvisionHostRequest) {
    return this.request<Operation<'provisionHost'>>('POST', '/v1/hosts', request);
  }
  activateShadow({ hostId, ...body }: ActivateShadowRequest) {
    return this.request<Operation<'activateShadow'>>('POST', this.hostPath(hostId, 'activate'), body);
  }
  resizeHost({ hostId, ...body }: ResizeHostRequest) {
    return this.request<Operation<'resizeHost'>>('POST', this.hostPath(hostId, 'resize'), body);
  }
  scaleUpShadow({ hostId, ...body }: ResizeHostRequest) {
    return this.request<Operation<'scaleUpShadow'>>('POST', this.hostPath(hostId, 'scale-up'), body);
  }
  deactivateShadow({ hostId, ...body }: DeactivateShadowRequest) {
    return this.request<Operation<'deactivateShadow'>>('POST', this.hostPath(hostId, 'deactivate'), body);
  }
  setRole({ hostId, ...body }: SetRoleRequest) {
    return this.request<Operation<'setRole'>>('POST', this.hostPath(hostId, 'role'), body);
  }
  fenceHost({ hostId, ...body }: HostActionRequest) {
    return this.request<Operation<'fenceHost'>>('POST', this.hostPath(hostId, 'fence'), body);
  }
  decommissionHost({ hostId, ...body }: HostActionRequest) {
    return this.request<Operation<'decommissionHost'>>('POST', this.hostPath(hostId, 'decommission'), body);
  }
  migrateWorkload({ workloadId, ...body }: MigrateWorkloadRequest) {
    return this.request<Operation<'migrateWorkload'>>(
      'POST',
      `/v1/workloads/${encodeURIComponent(workloadId)}/migrate`,
      body,
    );
  }
  syncConfiguration({ hostId, ...body }: SyncConfigurationRequest) {
    return this.request<Operation<'syncConfiguration'>>('POST', this.hostPath(hostId, 'configuration'), body);
  }
  startReplication(request: StartReplicationRequest) {
    return this.request<Operation<'startReplication'>>('POST', '/v1/replication', request);
  }

  /** `waitMs`: the provider holds its answer up to this long for a running operation to finish. */
  getOperation<K extends OperationKind>(operationId: string, options: { waitMs?: number } = {}) {
    const wait = options.waitMs ? `?waitMs=${Math.round(options.waitMs)}` : '';
    return this.request<Operation<K>>('GET', `/v1/operations/${encodeURIComponent(operationId)}${wait}`);
  }

  /**
   * Asks again as soon as each answer comes: the provider holds a read of a running operation until it finishes, or
   * for a second, so the operation's end is seen at once and `onProgress` (an activity's heartbeat) runs every second.
   */
  waitForOperation<K extends OperationKind>(operation: Operation<K> | string, options: WaitOptions = {}) {
    const waitMs = Math.min(OPERATION_WAIT_MS, this.timeoutMs / 2);
    return pollOperation((id) => this.getOperation<K>(id, { waitMs }), operation, { ...options, pollIntervalMs: 0 });
  }

  verifyReplication({ sourceHostId, targetHostId }: ReplicationRequest) {
    const query = new URLSearchParams({ sourceHostId, targetHostId });
    return this.request<ReplicationStatus>('GET', `/v1/replication?${query.toString()}`);
  }
  healthCheck(hostId: string) {
    return this.request<HealthReport>('GET', this.hostPath(hostId, 'health'));
  }
  healthCheckMany(hostIds: string[]) {
    return this.request<HealthReports>('POST', '/v1/health-checks', { hostIds });
  }
  getHost(hostId: string) {
    return this.request<Host>('GET', `/v1/hosts/${encodeURIComponent(hostId)}`);
  }
  describeFleet(filter?: { hostIds?: string[] }) {
    const query = filter?.hostIds ? `?hostIds=${filter.hostIds.map(encodeURIComponent).join(',')}` : '';
    return this.request<FleetSnapshot>('GET', `/v1/fleet${query}`);
  }
  invariants() {
    return this.request<InvariantReport>('GET', '/v1/invariants');
  }
}
