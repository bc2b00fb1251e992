/**
 * `understudy rollout start|status|pause|resume|abort`: one rolling upgrade at a time, under the workflow id
 * `rollout` (a second `start` while one runs is refused by Temporal itself). The same calls from the official CLI:
 *   temporal workflow query  --workflow-id rollout --type rolloutState
 *   temporal workflow signal --workflow-id rollout --name pauseRollout
 */
import { afterConfigOption } from './argv.js';
import { exitWithError, isArgumentError } from './exit.js';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { ConfigurationValue, RolloutBudget, RolloutWindow } from '../policy/rollout.js';
import { validateBudget, validateConfiguration, validateWindows } from '../policy/rollout.js';
import { FLEET_WORKFLOW_ID } from '../shared/pair.js';
import {
  ROLLOUT_WORKFLOW_ID,
  abortRolloutSignal,
  endMaintenanceSignal,
  maintenanceWorkflowId,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStateQuery,
  type RolloutInput,
} from '../shared/rollout.js';
import { TASK_QUEUE } from '../shared/temporal.js';
import { temporalConnectionOptions } from '../temporalConnection.js';
import type { maintenanceWorkflow } from '../../workflows/maintenance.js';
import type { rolloutWorkflow } from '../../workflows/rollout.js';

export const ROLLOUT_USAGE = `  rollout start --set KEY=VALUE… [--max-pairs N | --max-percent P] [--window "CRON/MINUTES[@ZONE]"]…
                [--pairs A,B…] [--on-failure continue|halt]
                upgrade every pair of the fleet (or the named ones) through swaps, off-peak unless --window
  rollout status|pause|resume   the rollout's per-pair state as JSON; pause/resume between waves
  rollout abort [--reason R]    stop after the wave in flight; pairs not started keep their configuration
  maintenance HOST on|off [--allow-reduced-spare]
                drain HOST (a swap, if it is a primary) and hold it out of service; off returns it. A primary's
                drain is refused when it would leave a region short of outage capacity, unless --allow-reduced-spare`;

class RolloutCommandError extends Error {}

/** True when `argv` asks for `rollout` or `maintenance` (after an optional `--config FILE`). */
export function isRolloutCommand(argv: string[]): boolean {
  const first = afterConfigOption(argv)[0];
  return first === 'rollout' || first === 'maintenance';
}

const print = (line = ''): void => void process.stdout.write(`${line}\n`);

/** `image=app:2.0` → image: 'app:2.0'; numbers and true/false keep their type. */
export function parseSetting(setting: string): [string, ConfigurationValue] {
  const at = setting.indexOf('=');
  if (at <= 0) throw new RolloutCommandError(`--set takes KEY=VALUE, got "${setting}"`);
  const key = setting.slice(0, at);
  const raw = setting.slice(at + 1);
  const value: ConfigurationValue =
    raw === 'true'
      ? true
      : raw === 'false'
        ? false
        : raw.trim() !== '' && Number.isFinite(Number(raw))
          ? Number(raw)
          : raw;
  return [key, value];
}

// "CRON/MINUTES[@ZONE]", e.g. a cron of 1 am with 240 minutes in Europe/Berlin: cron, window length, optional zone.
export function parseWindow(text: string): RolloutWindow {
  const match = /^(.+)\/(\d+(?:\.\d+)?)(?:@(.+))?$/.exec(text);
  if (!match) throw new RolloutCommandError(`--window takes "CRON/MINUTES[@ZONE]", got "${text}"`);
  return { cron: match[1]!.trim(), durationMinutes: Number(match[2]), timezone: match[3] ?? 'UTC' };
}

export async function runRolloutCommand(argv: string[]): Promise<void> {
  try {
    await dispatch(argv);
  } catch (error) {
    exitWithError(error, {
      expected:
        error instanceof RolloutCommandError || error instanceof WorkflowNotFoundError || isArgumentError(error),
      code: 1,
      message:
        error instanceof WorkflowNotFoundError
          ? `no such rollout or maintenance running (${error.message})`
          : undefined,
    });
  }
}

async function dispatch(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      set: { type: 'string', multiple: true },
      'max-pairs': { type: 'string' },
      'max-percent': { type: 'string' },
      window: { type: 'string', multiple: true },
      pairs: { type: 'string' },
      fleet: { type: 'string' },
      'on-failure': { type: 'string' },
      reason: { type: 'string' },
      'allow-reduced-spare': { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const loaded = loadConfig(values.config);
  if (positionals[0] === 'maintenance')
    return maintenance(loaded, positionals.slice(1), values.fleet, values['allow-reduced-spare'] === true);
  if (values['allow-reduced-spare']) throw new RolloutCommandError('--allow-reduced-spare is an option of maintenance');
  const [, sub, ...extra] = positionals;
  if (extra.length > 0) throw new RolloutCommandError(`unexpected argument "${extra[0]}"`);

  let input: RolloutInput | undefined;
  if (sub === 'start') {
    const desired = Object.fromEntries((values.set ?? []).map(parseSetting));
    const budget: RolloutBudget = {
      maxPairs: values['max-pairs'] === undefined ? undefined : Number(values['max-pairs']),
      maxPercentOfRegion: values['max-percent'] === undefined ? undefined : Number(values['max-percent']),
    };
    if (budget.maxPairs === undefined && budget.maxPercentOfRegion === undefined) budget.maxPairs = 1;
    const windows = values.window?.map(parseWindow);
    const onFailure = values['on-failure'];
    if (onFailure !== undefined && onFailure !== 'continue' && onFailure !== 'halt')
      throw new RolloutCommandError(`--on-failure takes continue or halt, got "${onFailure}"`);
    // Checked here too, so the operator reads every reason at once; the workflow checks again against the fleet.
    const problems = [
      ...validateConfiguration(desired),
      ...(windows ? validateWindows(windows, Date.now()) : []),
      ...validateBudget(budget, []).filter((p) => !p.includes('above the')),
    ];
    if (problems.length > 0) throw new RolloutCommandError(`rollout refused: ${problems.join('; ')}`);
    input = {
      rolloutId: `rollout-${new Date().toISOString()}`,
      desired,
      budget,
      windows,
      onPairFailure: onFailure,
      fleetWorkflowId: values.fleet ?? FLEET_WORKFLOW_ID,
      pairs: values.pairs?.split(',').map((pairId) => ({ pairId: pairId.trim() })) as RolloutInput['pairs'],
    };
  } else if (!['status', 'pause', 'resume', 'abort'].includes(sub ?? '')) {
    throw new RolloutCommandError(`"rollout" takes start, status, pause, resume or abort, got "${sub ?? ''}"`);
  }

  const connection = await Connection.connect({ ...temporalConnectionOptions(loaded), connectTimeout: 5_000 });
  try {
    const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
    const handle = client.workflow.getHandle(ROLLOUT_WORKFLOW_ID);
    switch (sub) {
      case 'start':
        try {
          await client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
            taskQueue: TASK_QUEUE,
            workflowId: ROLLOUT_WORKFLOW_ID,
            args: [input!],
          });
        } catch (error) {
          if (error instanceof WorkflowExecutionAlreadyStartedError)
            throw new RolloutCommandError('a rollout is already running; `understudy rollout status` shows it');
          throw error;
        }
        print(`understudy: rollout ${input!.rolloutId} started; follow it with \`understudy rollout status\``);
        return;
      case 'status':
        print(JSON.stringify(await handle.query(rolloutStateQuery), null, 2));
        return;
      case 'pause':
        await handle.signal(pauseRolloutSignal);
        print('understudy: rollout pauses after the wave in flight');
        return;
      case 'resume':
        await handle.signal(resumeRolloutSignal);
        print('understudy: rollout resumed');
        return;
      case 'abort':
        await handle.signal(abortRolloutSignal, { reason: values.reason });
        print('understudy: rollout aborts after the wave in flight');
        return;
    }
  } finally {
    await connection.close();
  }
}

async function maintenance(
  loaded: LoadedConfig,
  args: string[],
  fleet: string | undefined,
  allowReducedSpare: boolean,
): Promise<void> {
  const [hostId, onOff, ...extra] = args;
  if (hostId === undefined || (onOff !== 'on' && onOff !== 'off') || extra.length > 0)
    throw new RolloutCommandError('usage: understudy maintenance HOST on|off');
  const connection = await Connection.connect({ ...temporalConnectionOptions(loaded), connectTimeout: 5_000 });
  try {
    const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
    const workflowId = maintenanceWorkflowId(hostId);
    if (onOff === 'off') {
      await client.workflow.getHandle(workflowId).signal(endMaintenanceSignal);
      print(`understudy: ${hostId} returns to service`);
      return;
    }
    try {
      await client.workflow.start<typeof maintenanceWorkflow>('maintenanceWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [
          { hostId, fleetWorkflowId: fleet ?? FLEET_WORKFLOW_ID, ...(allowReducedSpare ? { allowReducedSpare } : {}) },
        ],
      });
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError)
        throw new RolloutCommandError(`${hostId} is already in maintenance`);
      throw error;
    }
    print(
      `understudy: ${hostId} going into maintenance (workflow ${workflowId}); \`maintenance ${hostId} off\` returns it`,
    );
  } finally {
    await connection.close();
  }
}
