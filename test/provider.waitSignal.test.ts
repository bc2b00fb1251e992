import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOperation } from '../src/provider/client.js';
import { SIZE, startTestSimulator, uniqueKey, type TestSimulator } from './helpers/simulator.js';

// An activity waits for a provider operation with its cancellation signal: every poll's sleep listens to it, and
// a listener left behind per poll piled up on the signal (hundreds over a long migration).
describe('provider client: waiting for an operation with a signal', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ speed: 1 });
    await sim.control.setDelays({ provisionSeconds: 1 });
  }, 60_000);
  afterAll(async () => {
    await sim?.stop();
  });

  const provision = () =>
    sim.provider.provisionHost({
      region: 'us-east',
      zone: 'us-east-a',
      capacity: SIZE,
      role: 'primary',
      idempotencyKey: uniqueKey('wait-signal'),
    });

  it('leaves no abort listener behind after many polls', async () => {
    const controller = new AbortController();
    let polls = 0;
    // Polled as for a provider that cannot hold a read (the simulator's client waits instead).
    const done = await pollOperation((id) => sim.provider.getOperation(id), await provision(), {
      pollIntervalMs: 20,
      signal: controller.signal,
      onProgress: () => void (polls += 1),
    });
    expect(done.status).toBe('succeeded');
    expect(polls).toBeGreaterThan(5);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('still stops waiting as soon as the signal aborts, or at once when it already has', async () => {
    const controller = new AbortController();
    const waiting = sim.provider.waitForOperation(await provision(), {
      pollIntervalMs: 5_000,
      signal: controller.signal,
    });
    controller.abort(new Error('activity cancelled'));
    await expect(waiting).rejects.toThrow('activity cancelled');
    await expect(
      sim.provider.waitForOperation(await provision(), { pollIntervalMs: 5_000, signal: controller.signal }),
    ).rejects.toThrow('activity cancelled');
  });
});
