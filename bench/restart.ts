/**
 * bench:restart — what a worker restart costs the pairs. For each step, that many pairs run at the default policy
 * (a tick every 15 s, a health check every 5 s) for `--warm-seconds`, so their runs hold a history; then the worker
 * process is killed (SIGKILL, as a crash would) and a new one started on the same task queue. A worker that has
 * not cached a pair replays the pair's whole run before the pair does anything, and the new worker has cached none.
 * Measured per pair, from its history (server timestamps):
 *   - recovery: seconds from the kill to the pair's first health check completed after it (what a failover would
 *     have waited for);
 *   - the workflow tasks that timed out after the kill (a replay that took longer than the 10 s task timeout, to be
 *     replayed again);
 *   - the run's history length when the worker was killed.
 * Not a test: it prints figures. Each step's pairs are terminated before the next step starts.
 *
 * Usage: npm run bench:restart [-- --json] [--pairs 12,50,100] [--warm-seconds 240]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import { activityTimelines, eventMs, inBatches, round, seedAndStartPairs, spread, startBenchStack } from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    pairs: { type: 'string' },
    'warm-seconds': { type: 'string' },
  },
});
const STEPS = (args.pairs ?? '12,50,100').split(',').map((s) => Number(s.trim()));
if (STEPS.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--pairs must be whole numbers ≥ 1, e.g. 12,50,100 (got ${args.pairs})`);
const WARM_SECONDS = Number(args['warm-seconds'] ?? 240);
if (!Number.isFinite(WARM_SECONDS) || WARM_SECONDS < 30)
  throw new Error(`--warm-seconds must be at least 30 (got ${args['warm-seconds']})`);
/** A step gives up waiting for its pairs' first health check after the restart at this point. */
const RECOVERY_LIMIT_SECONDS = 600;
const log = (message: string) => {
  if (!args.json) console.log(message);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loaded = loadConfig(undefined, {});
const { config } = loaded;
const policy = config.policy;
if (config.influx.version !== 1) throw new Error('bench:restart runs against the embedded InfluxDB 1.x');
const stack = await startBenchStack({ config, label: 'restart', speed: 1, metricsIntervalSeconds: 300 });
try {
  const { client, taskQueue, tag } = stack;
  log(
    `bench:restart: task queue ${taskQueue}; tick ${policy.tickSeconds} s, health check every ` +
      `${policy.healthCheckIntervalSeconds} s; steps ${STEPS.join(', ')} pairs, ${WARM_SECONDS} s before each restart`,
  );
  const steps: Record<string, unknown>[] = [];
  for (const [index, count] of STEPS.entries()) {
    const prefix = `brs-${tag}-${index}`;
    const { pairIds } = await seedAndStartPairs(stack, { prefix, count, policy });
    log(`${count} pairs started; running ${WARM_SECONDS} s before the restart`);
    await sleep(WARM_SECONDS * 1000);

    const historyLengths: number[] = [];
    await inBatches(pairIds, 16, async (pairId) => {
      const { historyLength } = await client.workflow.getHandle(pairWorkflowId(pairId)).describe();
      historyLengths.push(historyLength);
    });
    const { killedAt, readyAt } = await stack.restartWorker();
    log(`worker killed; the new one polled ${round((readyAt - killedAt) / 1000)} s later`);

    // Per pair: the first health check completed after the kill, and the workflow tasks that timed out since.
    const recovered = new Map<string, number>();
    const timedOut = new Map<string, number>();
    const deadline = killedAt + RECOVERY_LIMIT_SECONDS * 1000;
    // The times come from the histories' server timestamps, so reading them seldom costs no precision and keeps this
    // benchmark's own reads from loading the dev server while the pairs replay.
    while (recovered.size < pairIds.length && Date.now() < deadline) {
      await sleep(10_000);
      await inBatches(
        pairIds.filter((pairId) => !recovered.has(pairId)),
        8,
        async (pairId) => {
          const history = await client.workflow
            .getHandle(pairWorkflowId(pairId))
            .fetchHistory()
            .catch(() => undefined);
          const events = history?.events ?? [];
          const check = activityTimelines(events).find(
            (a) => a.activityType === 'checkHealth' && a.completedAt !== undefined && a.completedAt > killedAt,
          );
          timedOut.set(
            pairId,
            events.filter((e) => e.workflowTaskTimedOutEventAttributes && eventMs(e) > killedAt).length,
          );
          if (check?.completedAt !== undefined) recovered.set(pairId, (check.completedAt - killedAt) / 1000);
        },
      );
    }
    const recoverySeconds = [...recovered.values()];
    const timeouts = [...timedOut.values()];
    const step = {
      pairs: count,
      historyEventsAtKill: spread(historyLengths, 0),
      workerStartSeconds: round((readyAt - killedAt) / 1000),
      recoverySeconds: spread(recoverySeconds, 1),
      notRecoveredWithin: pairIds.length - recovered.size,
      workflowTaskTimeouts: {
        total: timeouts.reduce((a, b) => a + b, 0),
        pairsWithOne: timeouts.filter((n) => n > 0).length,
      },
    };
    steps.push(step);
    log(
      `${count} pairs: history ${step.historyEventsAtKill.p50} events (p50) at the kill; first health check after ` +
        `it p50 ${step.recoverySeconds.p50} s, p99 ${step.recoverySeconds.p99} s, max ${step.recoverySeconds.max} s` +
        `${step.notRecoveredWithin > 0 ? `, ${step.notRecoveredWithin} not within ${RECOVERY_LIMIT_SECONDS} s` : ''}; ` +
        `${step.workflowTaskTimeouts.total} workflow task timeouts in ${step.workflowTaskTimeouts.pairsWithOne} pairs`,
    );
    await inBatches(pairIds, 16, (pairId) =>
      client.workflow
        .getHandle(pairWorkflowId(pairId))
        .terminate('step finished')
        .catch(() => undefined),
    );
  }
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          policy: { tickSeconds: policy.tickSeconds, healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds },
          steps,
        },
        null,
        2,
      ),
    );
  }
} finally {
  await stack.close();
}
