/**
 * The operator's pair commands: status, pause, resume, swap, failover and policy. Each is one Temporal call on the
 * pair's workflow (`pair:<id>`), the same the official `temporal` CLI can make:
 *   temporal workflow signal --workflow-id pair:h-1 --name pause
 *   temporal workflow query  --workflow-id pair:h-1 --type state
 *   temporal workflow update execute --workflow-id pair:h-1 --name failover --input '{"reason":"disk alarms"}'
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  failoverUpdate,
  forceSwapSignal,
  pairWorkflowId,
  pauseSignal,
  resumeSignal,
  setPolicyUpdate,
  stateQuery,
  type PairState,
} from '../shared/pair.js';
import { SearchAttributeKeys } from '../shared/temporal.js';

/** A request the operator can fix (unknown pair, refused update); printed as one line, exit code 1. */
export class PairCommandError extends Error {}

const PAIR_ID = /^[A-Za-z0-9._-]{1,100}$/;

export function checkPairId(pairId: string | undefined): string {
  if (pairId === undefined) throw new PairCommandError('name the pair, e.g. `understudy pause h-use1-01`');
  if (!PAIR_ID.test(pairId)) {
    throw new PairCommandError(
      `"${pairId}" is not a pair id (letters, digits, ".", "_" and "-", at most 100 characters)`,
    );
  }
  return pairId;
}

async function onPair<T>(client: Client, pairId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new PairCommandError(`no running pair "${pairId}" (workflow ${pairWorkflowId(pairId)} not found)`);
    }
    if (error instanceof WorkflowUpdateFailedError) {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      throw new PairCommandError(`pair "${pairId}" refused: ${cause}`);
    }
    throw error;
  }
}

/** Fails with "no running pair" before a signal, which would otherwise be accepted for a closed workflow. */
async function runningHandle(client: Client, pairId: string) {
  const handle = client.workflow.getHandle(pairWorkflowId(pairId));
  const description = await onPair(client, pairId, () => handle.describe());
  if (description.status.name !== 'RUNNING') {
    throw new PairCommandError(
      `pair "${pairId}" is not running (its workflow is ${description.status.name.toLowerCase()})`,
    );
  }
  return handle;
}

export async function pairState(client: Client, pairId: string | undefined): Promise<PairState> {
  const id = checkPairId(pairId);
  const handle = await runningHandle(client, id);
  return onPair(client, id, () => handle.query(stateQuery));
}

export async function pausePair(
  client: Client,
  pairId: string | undefined,
  disableFailover: boolean,
  reason?: string,
): Promise<void> {
  const id = checkPairId(pairId);
  await (await runningHandle(client, id)).signal(pauseSignal, { disableFailover, reason });
}

export async function resumePair(client: Client, pairId: string | undefined): Promise<void> {
  const id = checkPairId(pairId);
  await (await runningHandle(client, id)).signal(resumeSignal);
}

export async function swapPair(client: Client, pairId: string | undefined, reason?: string): Promise<void> {
  const id = checkPairId(pairId);
  await (await runningHandle(client, id)).signal(forceSwapSignal, { reason });
}

export async function failOverPair(client: Client, pairId: string | undefined, reason: string | undefined) {
  const id = checkPairId(pairId);
  checkFailoverReason(reason);
  const handle = await runningHandle(client, id);
  return onPair(client, id, () => handle.executeUpdate(failoverUpdate, { args: [{ reason }] }));
}

export function checkFailoverReason(reason: string | undefined): void {
  if (!reason?.trim())
    throw new PairCommandError('failover needs --reason "…" (it is recorded in the pair\'s history)');
}

/** Parses `key=value` pairs into a policy patch: numbers, booleans and JSON values (for horizonsMinutes, offPeak). */
export function parsePolicyAssignments(assignments: string[]): Record<string, unknown> {
  if (assignments.length === 0) throw new PairCommandError('give at least one key=value, e.g. thresholdPercent=75');
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new PairCommandError(`"${assignment}" is not key=value`);
    const key = assignment.slice(0, eq);
    const raw = assignment.slice(eq + 1);
    try {
      patch[key] = JSON.parse(raw);
    } catch {
      patch[key] = raw;
    }
  }
  return patch;
}

export async function setPairPolicy(client: Client, pairId: string | undefined, assignments: string[]) {
  const id = checkPairId(pairId);
  const patch = parsePolicyAssignments(assignments);
  const handle = await runningHandle(client, id);
  return onPair(client, id, () => handle.executeUpdate(setPolicyUpdate, { args: [patch] }));
}

export interface PairListing {
  pairId: string;
  primary: string;
  primaryRegion: string;
  shadow: string;
  shadowRegion: string;
  phase: string;
  paused: boolean;
}

/** Running pairs, from the search attributes the pairs keep current (the same filter the Web UI uses). */
export async function listPairs(client: Client): Promise<PairListing[]> {
  const pairs: PairListing[] = [];
  for await (const execution of client.workflow.list({
    query: `WorkflowType = 'hostPairWorkflow' AND ExecutionStatus = 'Running'`,
  })) {
    const attrs = execution.typedSearchAttributes;
    pairs.push({
      pairId: attrs.get(SearchAttributeKeys.PairId) ?? execution.workflowId,
      primary: attrs.get(SearchAttributeKeys.PrimaryHost) ?? '?',
      primaryRegion: attrs.get(SearchAttributeKeys.PrimaryRegion) ?? '?',
      shadow: attrs.get(SearchAttributeKeys.ShadowHost) ?? '-',
      shadowRegion: attrs.get(SearchAttributeKeys.ShadowRegion) ?? '-',
      phase: attrs.get(SearchAttributeKeys.PairPhase) ?? '?',
      paused: attrs.get(SearchAttributeKeys.Paused) ?? false,
    });
  }
  return pairs.sort((a, b) => (a.pairId < b.pairId ? -1 : 1));
}
