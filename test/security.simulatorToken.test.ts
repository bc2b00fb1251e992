// The simulator's token on a real process, beyond the provider-API check in simulator.faults.test.ts: the control
// API (/sim) is guarded too, every malformed Authorization header is a 401 that acts on nothing, and the refusal
// never echoes the token sent.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFleetProvider } from '../src/provider/client.js';
import { SimulatorControl } from '../src/simulator/control.js';
import { SIZE, expectProviderError, startTestSimulator, uniqueKey, type TestSimulator } from './helpers/simulator.js';

const TOKEN = `sim-token-${randomUUID()}`;

describe('simulator API token', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ token: TOKEN });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it.each([
    ['no token', undefined],
    ['a wrong token', 'not-the-token-7f2e'],
    ['the token with a character more', `${TOKEN}x`],
    ['the token in upper case', TOKEN.toUpperCase()],
  ])('the control API refuses %s and changes nothing', async (_what, token) => {
    const before = await sim.control.status();
    const control = new SimulatorControl({ url: sim.url, ...(token !== undefined ? { token } : {}) });
    const error = await expectProviderError(control.setApiFaults({ apiErrorRate: 1 }), 'unauthorized', 401);
    expect(error.message).toMatch(/missing or wrong API token/);
    if (token) expect(error.message).not.toContain(token);
    await expectProviderError(control.status(), 'unauthorized', 401);
    expect((await sim.control.status()).faults).toEqual(before.faults);
  });

  it.each([
    ['Basic scheme', `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`],
    ['no scheme', TOKEN],
    ['an empty bearer', 'Bearer '],
    ['the token twice', `Bearer ${TOKEN}, Bearer ${TOKEN}`],
  ])('a provider request with %s is a 401 and provisions nothing', async (_what, authorization) => {
    const response = await fetch(`${sim.url}/v1/hosts`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({
        hostId: 'intruder',
        region: 'us-east',
        zone: 'us-east-a',
        capacity: SIZE,
        role: 'primary',
        idempotencyKey: uniqueKey('intruder'),
      }),
    });
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain(TOKEN);
    expect((await sim.provider.describeFleet()).hosts.map((h) => h.id)).not.toContain('intruder');
  });

  it('the client configured with the token is let through', async () => {
    const provider = new HttpFleetProvider({ url: sim.url, token: TOKEN });
    expect((await provider.describeFleet()).hosts).toEqual([]);
  });
});
