/**
 * Starts the embedded services as detached processes that outlive the command which started them (so `npm test`
 * reuses what `npm start` brought up), records each one's process id, and stops them by that id.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when a service cannot be installed, started or reached; its message is meant for the operator as is. */
export class ServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceError';
  }
}

export interface ManagedProcess {
  name: string;
  pidsDir: string;
  logsDir: string;
}

const pidFile = (p: ManagedProcess): string => join(p.pidsDir, `${p.name}.pid`);
export const logFile = (p: ManagedProcess): string => join(p.logsDir, `${p.name}.log`);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The recorded process id when that process still runs; a stale pid file is removed. */
export function runningPid(p: ManagedProcess): number | undefined {
  const file = pidFile(p);
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

export function startDetached(p: ManagedProcess, command: string, args: string[], cwd: string): number {
  mkdirSync(p.pidsDir, { recursive: true });
  mkdirSync(p.logsDir, { recursive: true });
  const log = openSync(logFile(p), 'a');
  try {
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', log, log] });
    if (child.pid === undefined) throw new ServiceError(`could not start ${p.name}: ${command} did not run`);
    child.unref();
    writeFileSync(pidFile(p), String(child.pid));
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within the grace period. */
export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<boolean> {
  const pid = runningPid(p);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  rmSync(pidFile(p), { force: true });
  return true;
}

/** The last lines of a service's log, quoted in a start-up error so that a CI transcript shows the cause. */
export function logTail(p: ManagedProcess, lines = 12): string {
  const file = logFile(p);
  if (!existsSync(file)) return '';
  const tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  return tail.length === 0 || tail[0] === '' ? '' : `\n${tail.map((line) => `  | ${line.slice(0, 400)}`).join('\n')}`;
}

/**
 * Polls `probe` until it returns true. Gives up early when the process it waits for has exited, naming its log and
 * quoting its end.
 */
export async function waitUntilHealthy(
  p: ManagedProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  pid?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (pid !== undefined && !isAlive(pid)) {
      throw new ServiceError(`${what} exited during start-up; see ${logFile(p)}${logTail(p)}`);
    }
    if (Date.now() > deadline) {
      throw new ServiceError(
        `${what} did not become healthy within ${timeoutMs / 1000} s; see ${logFile(p)}${logTail(p)}`,
      );
    }
    await sleep(200);
  }
}
