/**
 * A server that answers its headers at once and then stalls its body: the request's timeout must end the call as the
 * call (a ProviderError or MetricsStoreError naming what was asked), not as a bare DOMException from the body read.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxV1MetricsStore, MetricsStoreError } from '../src/metrics/influxV1Store.js';
import { HttpFleetProvider, ProviderError } from '../src/provider/client.js';

describe('a body that streams past the request timeout', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((_request, response) => {
      // Headers and the first bytes now, the rest never: a large answer from a server that fell behind.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"results": [');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails a provider call with a timeout that names the call', async () => {
    const provider = new HttpFleetProvider({ url, requestTimeoutMs: 200 });
    const error = await provider.invariants().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('timeout');
    expect((error as ProviderError).message).toMatch(
      /^GET \/v1\/invariants: no answer from the provider within 200 ms/,
    );
  });

  it('fails an InfluxDB query as a query', async () => {
    const store = new InfluxV1MetricsStore({ url, database: 'understudy', timeoutMs: 200 });
    const error = await store.query(['SELECT 1']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricsStoreError);
    expect((error as Error).message).toMatch(/^cannot query InfluxDB at http:\/\/127\.0\.0\.1:\d+: /);
  });
});
