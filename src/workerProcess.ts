/**
 * Starts a worker as a child process (src/workerProcessMain.ts) wired to a given Temporal server, simulator and
 * InfluxDB database, and resolves once it polls: what crash drills kill with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './stack/paths.js';
import type { WatchLane } from './shared/healthWatch.js';

export interface WorkerProcessArgs {
  taskQueue: string;
  simulatorUrl: string;
  influxUrl: string;
  database: string;
  /** A workflow bundle written to a file (`bundleWorkflows()`'s code), so the child does not bundle again. */
  bundlePath: string;
  /** The health-watcher lanes this process serves (default both). */
  watchLanes?: WatchLane[];
  /** Whether it runs the shard observers' loops (default yes). */
  observers?: boolean;
  /** Temporal frontend and namespace; the configuration's defaults when absent. */
  temporalAddress?: string;
  namespace?: string;
}

export const WORKER_READY_LINE = 'worker ready';
const WORKER_START_TIMEOUT_MS = 120_000;

/** `log` receives the worker's output after start-up (warnings, a crash's stack); it is discarded otherwise. */
export function spawnWorkerProcess(args: WorkerProcessArgs, log?: NodeJS.WritableStream): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'workerProcessMain.ts'), JSON.stringify(args)],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise<ChildProcess>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker process did not start within ${WORKER_START_TIMEOUT_MS / 1000} s:\n${output}`));
    }, WORKER_START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Only the start-up output is kept: a worker that runs for an hour must not grow this string.
      if (output.includes(WORKER_READY_LINE)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        for (const stream of [child.stdout, child.stderr]) {
          if (log) stream?.pipe(log, { end: false });
          else stream?.resume();
        }
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer); // after start-up this rejects an already settled promise: a no-op
      reject(new Error(`worker process exited with ${code ?? signal} during start-up:\n${output}`));
    });
  });
}
