/**
 * `npm run chaos [-- --json] [--rounds 100] [--seed S] [--faults a,b] [--plan-only]`: the fault campaign on a stack of its own
 * (Temporal 27233, Web UI 28233, InfluxDB 28086/28088, simulator 28090, state in .understudy/chaos/), started
 * here and stopped at the end. Progress goes to stderr, one line per round; the counts to stdout (JSON with
 * --json). Exits 1 when any invariant broke or a round could not run.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitWithError, isArgumentError } from '../cli/exit.js';
import { installRuntime } from '../worker.js';
import { runCampaign, type CampaignSummary } from './campaign.js';
import { PlanError, planCampaign, type FaultKind } from './plan.js';
import { PAIRS_PER_ROUND, REGIONS_PER_ROUND } from './rounds.js';
import { CAMPAIGN_STACK, chaosPaths, chaosStackUp, openLog } from './stack.js';

function parseWhole(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new PlanError(`--${name} must be a whole number, got "${text}"`);
  return value;
}

function report(summary: CampaignSummary): string {
  const t = summary.timeToSteadySeconds;
  return [
    `fault campaign: ${summary.rounds} rounds, seed ${summary.seed}, ${summary.durationSeconds} s`,
    ...Object.entries(summary.roundsPerFault).map(([kind, n]) => `  ${kind.padEnd(28)} ${n} rounds`),
    `invariant violations: ${summary.violations}` +
      (summary.violations > 0 ? ` (${JSON.stringify(summary.violationsPerKind)})` : ''),
    `rounds that could not run: ${summary.roundErrors}`,
    `steady again within ${summary.steadyBoundSeconds} s: ${summary.roundsSteadyWithinBound}/${summary.rounds} rounds`,
    `time to steady after the fault was lifted: p50 ${t.p50} s, p99 ${t.p99} s, max ${t.max} s`,
    `worker exits nobody asked for: ${summary.workerUnexpectedExits}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      faults: { type: 'string' },
      'plan-only': { type: 'boolean', default: false },
    },
  });
  const kinds = values.faults?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
  const plan = planCampaign({
    seed: parseWhole('seed', values.seed),
    rounds: parseWhole('rounds', values.rounds),
    pairsPerRound: PAIRS_PER_ROUND,
    regionsPerRound: REGIONS_PER_ROUND,
    ...(kinds ? { kinds } : {}),
  });
  if (values['plan-only']) {
    // The whole sequence of faults and timings the seed gives, without running anything: compare two seeds' plans.
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return;
  }
  installRuntime('ERROR');
  const logPath = join(chaosPaths(CAMPAIGN_STACK).logsDir, 'campaign.log');
  const log = openLog(logPath);
  process.stderr.write(`fault campaign: starting its own stack (log ${logPath})\n`);
  const stack = await chaosStackUp(CAMPAIGN_STACK, log);
  const runTag = Date.now().toString(36).slice(-5);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void stack.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { results, summary } = await runCampaign(stack, plan, runTag, (r) => {
      const verdict = r.error
        ? `ERROR ${r.error}`
        : r.violations.length > 0
          ? `${r.violations.length} VIOLATIONS`
          : 'ok';
      const steady =
        r.timeToSteadyMs === undefined ? 'not steady' : `steady after ${(r.timeToSteadyMs / 1000).toFixed(1)} s`;
      const line = `round ${r.round}/${plan.rounds.length} ${r.fault}: ${verdict}, ${steady} (${Math.round(r.durationMs / 1000)} s) ${r.notes.join('; ')}`;
      process.stderr.write(`${line}\n`);
      log.write(`${line}\n`);
      for (const v of r.violations) {
        process.stderr.write(`  ${v.kind}: ${v.message}\n`);
        log.write(`  ${v.kind}: ${v.message}\n`);
      }
    });
    process.stdout.write(values.json ? `${JSON.stringify({ summary, results }, null, 2)}\n` : `${report(summary)}\n`);
    process.exitCode = summary.violations > 0 || summary.roundErrors > 0 ? 1 : 0;
  } finally {
    await stack.down();
    log.end();
  }
}

main().catch((error: unknown) => {
  const expected = error instanceof PlanError || isArgumentError(error);
  exitWithError(error, { expected, code: expected ? 2 : 1 });
});
