/**
 * A read of a running operation can wait for it to end (`GET /v1/operations/:id?waitMs=`): the provider client waits
 * so, instead of polling, and an activity learns of the end at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OPERATION_WAIT_MS } from '../src/simulator/server.js';
import { SIZE, expectProviderError, startTestSimulator, uniqueKey, type TestSimulator } from './helpers/simulator.js';

describe('simulator: a read that waits for its operation', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ speed: 1, startAt: '2026-03-02T00:00:00Z' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  // Provisioning takes 90 s of the simulated clock, which runs at the wall's pace: it ends only when advanced.
  const provision = (hostId: string) =>
    sim.provider.provisionHost({
      idempotencyKey: uniqueKey(hostId),
      hostId,
      region: 'eu-west',
      zone: 'eu-west-a',
      capacity: SIZE,
      role: 'primary',
    });

  it('answers when the operation ends, within its wait', async () => {
    const started = await provision('waits-for-end');
    const read = sim.provider.getOperation(started.id, { waitMs: MAX_OPERATION_WAIT_MS });
    await sim.control.advance(91);
    const answer = await read;
    expect([answer.status, answer.progress]).toEqual(['succeeded', 1]);
  });

  it('answers the operation still running once its wait is over', async () => {
    const started = await provision('wait-runs-out');
    const answer = await sim.provider.getOperation(started.id, { waitMs: 200 });
    expect(answer.status).toBe('running');
  });

  it('waits for the end through the provider client, reporting progress on each answer', async () => {
    const started = await provision('client-waits');
    const seen: string[] = [];
    const done = sim.provider.waitForOperation(started, { onProgress: (op) => seen.push(op.status) });
    await sim.control.advance(91);
    expect((await done).status).toBe('succeeded');
    expect(seen.at(-1)).toBe('succeeded');
  });

  it('refuses a wait that is not a whole number of milliseconds up to the limit, naming it', async () => {
    const started = await provision('bad-wait');
    for (const waitMs of ['abc', '-1', '1.5', String(MAX_OPERATION_WAIT_MS + 1)]) {
      const error = await expectProviderError(
        sim.provider.request('GET', `/v1/operations/${started.id}?waitMs=${waitMs}`),
        'bad_request',
        400,
      );
      expect(error.message).toContain(
        `waitMs must be a whole number of milliseconds from 0 to 10000 (got "${waitMs}")`,
      );
    }
    expect((await sim.provider.getOperation(started.id)).status).toBe('running');
  });
});
