/**
 * `understudy`, the operator's command line. Every failure ends with one clear line (and exit code 1 for a bad
 * request or configuration, 2 for a service that cannot be reached); UNDERSTUDY_DEBUG=1 adds the stack trace.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig, withProviderKind, type LoadedConfig } from '../config/load.js';
import { PROVIDER_KINDS, type ProviderKind } from '../config/schema.js';
import { TASK_QUEUE, TRAINING_TASK_QUEUE } from '../shared/temporal.js';
import type { StackProbeReport } from '../shared/probe.js';
import type { stackProbeWorkflow } from '../../workflows/stackProbe.js';
import { ServiceError, stackDown, stackReset, stackUp, type Stack } from '../stack/index.js';
import { runDemo } from '../demo/demo.js';
import { runKubernetesDemo } from '../demo/kubernetesDemo.js';
import { afterConfigOption } from './argv.js';
import { exitWithError, isArgumentError } from './exit.js';
import { temporalConnectionOptions } from '../temporalConnection.js';
import { metricsStoreFor } from '../metrics/store.js';
import { WHOLE_RECORD } from '../metrics/types.js';
import { messageOf } from '../shared/failures.js';
import {
  PairCommandError,
  checkFailoverReason,
  checkPairId,
  failOverPair,
  listPairs,
  pairState,
  pausePair,
  resumePair,
  parsePolicyAssignments,
  setPairPolicy,
  swapPair,
} from './pairCommands.js';
import { connectWorker, createWorker, installRuntime } from '../worker.js';
import { startRetraining } from '../forecast/retraining.js';
import { stackPaths } from '../stack/paths.js';
import { FORECAST_USAGE, forecastCommandOf, runForecastCommand } from './forecastCommands.js';
import { ROLLOUT_USAGE, isRolloutCommand, runRolloutCommand } from './rolloutCommands.js';

class UsageError extends Error {}

const USAGE = `usage: understudy [--config FILE] <command>

commands:
  up [--demo] [--provider simulator|kubernetes]
                start the embedded stack and a worker, probe the stack end to end, run until Ctrl-C;
                with --demo (what \`npm start\` runs) a fleet and a scenario to watch: 12 primaries on the
                fleet simulator; with --provider kubernetes (overriding provider.kind), 6 nodes on the
                embedded Kubernetes bed (\`npm run start:kubernetes\`)
  down          stop the embedded stack (Temporal dev server, InfluxDB, fleet simulator, Kubernetes bed)
  status [PAIR] the services and the running pairs; with a pair id, that pair's state and latest decision as JSON
  pause PAIR [--no-failover] [--reason R]   the pair keeps mirroring and forecasting but takes no action
                                            (failover still runs unless --no-failover)
  resume PAIR   undo pause
  swap PAIR [--reason R]                    swap primary and shadow now (pre-checks, rollback on failure)
  failover PAIR --reason R                  fail over to the shadow now; prints the outcome or the refusal
  policy PAIR key=value…                    change the pair's policy, e.g. thresholdPercent=75 forecastOnly=true
  stack up [--provider simulator|kubernetes]
                start only the embedded services (reusing any already running); with kubernetes, the
                embedded Kubernetes bed too
  stack down    same as down
  stack reset   stop the embedded stack and delete its workflows, metrics and simulated fleet (the next
                \`npm start\` runs the demo from the beginning); binaries and the Python venv stay
${FORECAST_USAGE}
${ROLLOUT_USAGE}

options:
  --config FILE  configuration file (default: $UNDERSTUDY_CONFIG, else ./understudy.yaml, else built-in defaults)
  --help         this text`;

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function describeStack(stack: Stack): void {
  for (const s of stack.services) {
    print(`  ${s.name.padEnd(9)} ${s.address.padEnd(24)} pid ${s.pid}${s.reused ? ' (already running)' : ''}`);
  }
}

async function connectClient(loaded: LoadedConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(loaded), connectTimeout: 5_000 });
  } catch (error) {
    throw new ServiceError(`cannot reach Temporal at ${loaded.config.temporal.address}: ${(error as Error).message}`);
  }
  return new Client({ connection, namespace: loaded.config.temporal.namespace });
}

function printProbe(report: StackProbeReport): void {
  for (const round of report.rounds) {
    print(
      `  metrics store: ${round.metricsStore.ok ? 'ok' : 'FAILED'} — ${round.metricsStore.detail} (${round.metricsStore.elapsedMs} ms)`,
    );
    print(
      `  forecaster:    ${round.forecaster.ok ? 'ok' : 'FAILED'} — ${round.forecaster.detail} (${round.forecaster.elapsedMs} ms)`,
    );
  }
}

async function up(loaded: LoadedConfig, demo: boolean): Promise<void> {
  print('understudy: starting the embedded stack…');
  const stack = await stackUp(loaded.config);
  describeStack(stack);
  const startedHere = stack.services.filter((s) => !s.reused).map((s) => s.name);

  // The console is for Understudy's own lines; the SDK's warnings (slow workflow tasks after a restart, retries) go
  // to the worker's log.
  const workerLog = join(stackPaths(loaded.config).logsDir, 'worker.log');
  installRuntime(undefined, workerLog);
  const connection = await connectWorker(loaded);
  const worker = await createWorker({ loaded, connection });
  const running = worker.run();
  print(`understudy: worker polling task queue "${TASK_QUEUE}" (log: ${workerLog})`);

  const client = await connectClient(loaded);
  // The Python trainer loads while the probe runs; it never holds the stack up (a failure is reported, not fatal).
  const retrainingStarted = startRetraining({
    client,
    config: loaded.config,
    python: stackPaths(loaded.config).venvPython,
  });
  const workflowId = `stack-probe:${new Date().toISOString()}`;
  const report = await client.workflow.execute<typeof stackProbeWorkflow>('stackProbeWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ rounds: 1, intervalSeconds: 0 }],
  });
  print(`understudy: stack probe ${report.ok ? 'passed' : 'FAILED'} (workflow ${workflowId})`);
  printProbe(report);
  const retraining = await retrainingStarted;
  for (const problem of retraining.problems) print(`understudy: retraining: ${problem}`);
  if (retraining.problems.length === 0) {
    print(
      `understudy: trainer worker polling task queue "${TRAINING_TASK_QUEUE}"; schedule ${retraining.scheduleId} retrains the models daily`,
    );
  }
  print();
  print(`Temporal Web UI: ${stack.webUi}/namespaces/${loaded.config.temporal.namespace}/workflows`);
  print('Press Ctrl-C to stop.');

  const stop = new AbortController();
  const shutdown = (): void => {
    if (stop.signal.aborted) return;
    stop.abort();
    print('\nunderstudy: stopping the worker…');
    worker.shutdown();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  if (demo) {
    print();
    const retrainScheduleId = retraining.problems.length === 0 ? retraining.scheduleId : undefined;
    const demoOn = loaded.config.provider.kind === 'kubernetes' ? runKubernetesDemo : runDemo;
    await demoOn(loaded, client, stack.webUi, (line) => print(`demo: ${line}`), stop.signal, retrainScheduleId).catch(
      (error: Error) => {
        print(`demo: stopped: ${error.message}`);
      },
    );
  }
  await running;
  await retraining.stop();
  await client.connection.close();
  await connection.close();
  if (startedHere.length > 0) {
    const stopped = await stackDown(loaded.config, startedHere);
    print(`understudy: stopped ${stopped.join(', ') || 'nothing'}`);
  } else {
    print('understudy: left the services running (they were already up before this command)');
  }
}

async function withClient<T>(loaded: LoadedConfig, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(loaded);
  try {
    return await work(client);
  } finally {
    await client.connection.close();
  }
}

async function status(loaded: LoadedConfig): Promise<void> {
  const client = await connectClient(loaded);
  try {
    const info = await client.connection.workflowService.getSystemInfo({});
    print(`temporal: ${loaded.config.temporal.address} answers (server ${info.serverVersion || 'unknown version'})`);
  } finally {
    await client.connection.close();
  }
  const influx = loaded.config.influx;
  const response = await fetch(new URL('/ping', influx.url), { signal: AbortSignal.timeout(3_000) }).catch(
    (error: Error) => {
      throw new ServiceError(`cannot reach InfluxDB at ${influx.url}: ${error.message}`);
    },
  );
  print(`influxdb: ${influx.url} answers (version ${response.headers.get('x-influxdb-version') ?? 'unknown'})`);
  const pairs = await withClient(loaded, listPairs);
  if (pairs.length === 0) {
    print('pairs: none running (start a fleet with `understudy up`)');
    return;
  }
  print(`pairs: ${pairs.length} running`);
  for (const p of pairs) {
    print(
      `  ${p.pairId.padEnd(16)} ${p.phase.padEnd(13)} primary ${p.primary} (${p.primaryRegion})  shadow ${p.shadow} (${p.shadowRegion})${p.paused ? '  PAUSED' : ''}`,
    );
  }
}

/**
 * The usage of one command: its lines of USAGE (a command line starts with two spaces and the command's name, its
 * continuation lines are indented further); the whole text for no command or one USAGE does not list.
 */
function usageOf(command: string | undefined): string {
  const lines: string[] = [];
  let inCommand = false;
  for (const line of USAGE.split('\n')) {
    const commandName = /^ {2}(\S+)/.exec(line)?.[1];
    if (commandName !== undefined) inCommand = commandName === command;
    else if (!/^ {3,}\S/.test(line)) inCommand = false;
    if (inCommand) lines.push(line);
  }
  if (command === undefined || lines.length === 0) return USAGE;
  return [`usage: understudy [--config FILE] ${command} …`, '', ...lines].join('\n');
}

/** Undefined unless `--help` or `-h` comes before any `--`; then the command it asks about, if one is named. */
function helpRequested(argv: string[]): { command?: string } | undefined {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const options = argv.slice(0, end);
  if (!options.includes('--help') && !options.includes('-h')) return undefined;
  const command = afterConfigOption(options).find((a) => !a.startsWith('-'));
  return command === undefined ? {} : { command };
}

/**
 * The configuration with `--provider` applied; only `up` and `stack up` take it. The Kubernetes demo creates its
 * nodes the test bed's way, so it runs on the embedded bed only.
 */
function providerOverride(
  loaded: LoadedConfig,
  provider: string | undefined,
  command: string | undefined,
  sub: string | undefined,
  demo: boolean,
): LoadedConfig {
  if (provider !== undefined && command !== 'up' && !(command === 'stack' && sub === 'up')) {
    throw new UsageError('--provider applies to `up` and `stack up` only');
  }
  if (provider !== undefined && !(PROVIDER_KINDS as readonly string[]).includes(provider)) {
    throw new UsageError(`--provider must be ${PROVIDER_KINDS.join(' or ')}, not "${provider}"`);
  }
  const result = provider === undefined ? loaded : withProviderKind(loaded, provider as ProviderKind);
  const { kind, kubeconfig } = result.config.provider;
  if (demo && kind === 'kubernetes' && kubeconfig !== undefined) {
    throw new UsageError(
      `the Kubernetes demo creates its nodes on the embedded bed only; ${loaded.source} sets provider.kubeconfig ` +
        `(${kubeconfig}): remove it, or run \`understudy up\` without --demo`,
    );
  }
  return result;
}

async function main(argv: string[]): Promise<void> {
  const help = helpRequested(argv);
  if (help) {
    print(usageOf(help.command));
    return;
  }
  // train, forecast, backtest take options of their own (src/cli/forecastCommands.ts).
  if (forecastCommandOf(argv)) return runForecastCommand(argv);
  if (isRolloutCommand(argv)) return runRolloutCommand(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean' },
      demo: { type: 'boolean' },
      reason: { type: 'string' },
      'no-failover': { type: 'boolean' },
      provider: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length === 0) {
    print(USAGE);
    return;
  }
  const [command, sub, ...rest] = positionals;
  const loaded = providerOverride(loadConfig(values.config), values.provider, command, sub, values.demo === true);
  const noMoreArguments = (n: number): void => {
    const extra = positionals.slice(n);
    if (extra.length > 0)
      throw new UsageError(`unexpected argument "${extra[0]}" after "${positionals.slice(0, n).join(' ')}"`);
  };
  // A pair command's own arguments are checked before connecting, so a typo is named even when Temporal is down.
  if (['pause', 'resume', 'swap', 'failover', 'policy'].includes(command ?? '') || (command === 'status' && sub)) {
    checkPairId(sub);
    if (command === 'failover') checkFailoverReason(values.reason);
    if (command === 'policy') parsePolicyAssignments(rest);
  }
  switch (command) {
    case 'up':
      noMoreArguments(1);
      return up(loaded, values.demo === true);
    case 'down':
      noMoreArguments(1);
      print(
        `understudy: stopped ${(await stackDown(loaded.config)).join(', ') || 'nothing (no embedded service was running)'}`,
      );
      return;
    case 'status':
      if (sub !== undefined) {
        noMoreArguments(2);
        return withClient(loaded, async (client) => {
          const state = await pairState(client, sub);
          // Pairs record every decision ("none" included) in the metrics store, not in their state: the newest one.
          const latestDecision = await metricsStoreFor(loaded)
            .readDecisions({ pairIds: [sub], ...WHOLE_RECORD })
            .then((decisions) => decisions.at(-1) ?? null)
            .catch((error: unknown) => ({ unavailable: messageOf(error) }));
          print(JSON.stringify({ ...state, latestDecision }, null, 2));
        });
      }
      noMoreArguments(1);
      return status(loaded);
    case 'pause':
      noMoreArguments(2);
      return withClient(loaded, async (client) => {
        await pausePair(client, sub, values['no-failover'] === true, values.reason);
        print(
          `understudy: paused pair ${sub}${values['no-failover'] ? ' (failover held too)' : ' (failover stays on)'}`,
        );
      });
    case 'resume':
      noMoreArguments(2);
      return withClient(loaded, async (client) => {
        await resumePair(client, sub);
        print(`understudy: resumed pair ${sub}`);
      });
    case 'swap':
      noMoreArguments(2);
      return withClient(loaded, async (client) => {
        await swapPair(client, sub, values.reason);
        print(`understudy: asked pair ${sub} to swap; follow it with \`understudy status ${sub}\``);
      });
    case 'failover':
      noMoreArguments(2);
      return withClient(loaded, async (client) => {
        const result = await failOverPair(client, sub, values.reason);
        print(
          `understudy: pair ${sub} failed over: fenced ${result.fencedHost}, ${result.newPrimary} is primary, ` +
            `restored ${result.workloadsRestored.length} workloads, lost ${result.lostVersions} data versions`,
        );
      });
    case 'policy':
      return withClient(loaded, async (client) => {
        const policy = await setPairPolicy(client, sub, rest);
        print(JSON.stringify(policy, null, 2));
      });
    case 'stack':
      if (sub === 'up') {
        noMoreArguments(2);
        const stack = await stackUp(loaded.config);
        print('understudy: embedded stack is up');
        describeStack(stack);
        print(`Temporal Web UI: ${stack.webUi}`);
        return;
      }
      if (sub === 'down') {
        noMoreArguments(2);
        print(`understudy: stopped ${(await stackDown(loaded.config)).join(', ') || 'nothing'}`);
        return;
      }
      if (sub === 'reset') {
        noMoreArguments(2);
        const removed = await stackReset(loaded.config);
        print(
          `understudy: stopped the embedded stack and removed ${removed.length === 0 ? 'nothing' : removed.join(', ')}`,
        );
        return;
      }
      throw new UsageError(`"stack" takes "up", "down" or "reset", got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
    default:
      throw new UsageError(`unknown command "${command}"; run \`understudy --help\` for the list`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) =>
    exitWithError(error, {
      expected:
        error instanceof ConfigError ||
        error instanceof ServiceError ||
        error instanceof UsageError ||
        error instanceof PairCommandError ||
        isArgumentError(error),
      code: error instanceof ServiceError ? 2 : 1,
    }),
);
