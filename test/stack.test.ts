import { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../src/shared/temporal.js';
import { webUiUrl } from '../src/stack/index.js';
import { testConfig } from './helpers/temporal.js';

describe('the embedded Temporal dev server', () => {
  it('has every Understudy search attribute registered with its type', async () => {
    const { config } = testConfig();
    const connection = await Connection.connect({ address: config.temporal.address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: config.temporal.namespace,
      });
      // temporal.api.enums.v1.IndexedValueType
      const typeNames = { Text: 1, Keyword: 2, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7 } as const;
      for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
        expect(customAttributes?.[name], name).toBe(typeNames[type]);
      }
    } finally {
      await connection.close();
    }
  });

  it('serves the Temporal Web UI, backed by the same server', async () => {
    const { config } = testConfig();
    const page = await fetch(webUiUrl(config));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/_app/immutable/'); // the UI's SvelteKit app shell
    const settings = (await (await fetch(`${webUiUrl(config)}/api/v1/settings`)).json()) as { Version: string };
    expect(settings.Version).toMatch(/^\d+\.\d+\.\d+/);
    // The UI's own API answers for our namespace: it is wired to the dev server, not just serving files.
    const list = await fetch(`${webUiUrl(config)}/api/v1/namespaces/${config.temporal.namespace}/workflows?query=`);
    expect(list.status).toBe(200);
    expect(await list.json()).toHaveProperty('executions');
  });
});
