/**
 * The embedded Temporal: the Temporal CLI dev server on a SQLite file (so workflows survive a restart), with the
 * Web UI, and Understudy's custom search attributes registered.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import type { UnderstudyConfig } from '../config/schema.js';
import { SEARCH_ATTRIBUTES, type SearchAttributeType } from '../shared/temporal.js';
import type { StackPaths } from './paths.js';
import {
  ServiceError,
  runningPid,
  startDetached,
  stopProcess,
  waitUntilHealthy,
  type ManagedProcess,
} from './process.js';

const TEMPORAL_START_TIMEOUT_MS = 60_000;
/** The dev server's SQLite settings (see where it is started). */
const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/** gRPC's status code for a method the server does not implement. */
const GRPC_UNIMPLEMENTED = 12;

/** Search attribute types as the operator service numbers them (temporal.api.enums.v1.IndexedValueType). */
const INDEXED_VALUE_TYPE: Record<SearchAttributeType, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

export const temporalProcess = (paths: StackPaths): ManagedProcess => ({
  name: 'temporal',
  pidsDir: paths.pidsDir,
  logsDir: paths.logsDir,
});

export const webUiUrl = (config: UnderstudyConfig): string => `http://127.0.0.1:${config.embedded.temporalUiPort}`;

async function frontendAnswers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    await connection.workflowService.getSystemInfo({});
    return true;
  } finally {
    await connection.close();
  }
}

async function webUiAnswers(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return response.ok;
}

/** Registers any of Understudy's search attributes the namespace lacks; returns the names it added. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace }).catch((error: unknown) => {
    // Temporal's Java time-skipping test server adds search attributes but cannot list them: add them all.
    if ((error as { code?: number }).code === GRPC_UNIMPLEMENTED) return undefined;
    throw error;
  });
  const known = new Set(Object.keys(existing?.customAttributes ?? {}));
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
  });
  return missing.map(([name]) => name);
}

export interface StartedService {
  name: string;
  pid: number;
  reused: boolean;
  address: string;
}

export async function startTemporal(config: UnderstudyConfig, paths: StackPaths): Promise<StartedService> {
  const proc = temporalProcess(paths);
  const address = `127.0.0.1:${config.embedded.temporalPort}`;
  const uiUrl = webUiUrl(config);
  const healthy = async (): Promise<boolean> => (await frontendAnswers(address)) && (await webUiAnswers(uiUrl));

  let pid = runningPid(proc);
  const reused = pid !== undefined;
  if (pid === undefined) {
    if (await frontendAnswers(address).catch(() => false)) {
      throw new ServiceError(
        `port ${config.embedded.temporalPort} already serves a Temporal frontend that Understudy did not start; ` +
          `stop it or set embedded.temporalPort to a free port`,
      );
    }
    if (!existsSync(paths.temporalBin)) {
      throw new ServiceError(`the Temporal CLI is not installed at ${paths.temporalBin}; run \`npm run setup\``);
    }
    mkdirSync(dirname(paths.temporalDb), { recursive: true });
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(config.embedded.temporalPort),
      '--ui-port',
      String(config.embedded.temporalUiPort),
      '--db-filename',
      paths.temporalDb,
      // Write-ahead log without an fsync per commit: bench:scale found the pairs' tasks queueing while neither the
      // worker nor the server used the CPU. A killed server process loses nothing (the log survives it); only a
      // power loss could lose the newest commits, an acceptable trade for the embedded development stack.
      ...SQLITE_PRAGMAS.flatMap((pragma) => ['--sqlite-pragma', pragma]),
      '--namespace',
      config.temporal.namespace,
      '--log-level',
      'warn',
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ];
    pid = startDetached(proc, paths.temporalBin, args, paths.stateDir);
  }
  await waitUntilHealthy(
    proc,
    `the Temporal dev server (${address}, Web UI ${uiUrl})`,
    healthy,
    TEMPORAL_START_TIMEOUT_MS,
    pid,
  );
  // A dev server reused from an older checkout may predate an attribute added since.
  const connection = await Connection.connect({ address });
  try {
    await ensureSearchAttributes(connection, config.temporal.namespace);
  } finally {
    await connection.close();
  }
  return { name: 'temporal', pid, reused, address };
}

export const stopTemporal = (paths: StackPaths): Promise<boolean> => stopProcess(temporalProcess(paths));
