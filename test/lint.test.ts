import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/stack/index.js';

// The lint rules that keep workflow code deterministic, checked on code they must refuse and code they must pass.
const eslint = new ESLint({ cwd: PROJECT_ROOT });
const WORKFLOW_FILE = join(PROJECT_ROOT, 'workflows', 'stackProbe.ts');

async function restrictedImportMessages(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: WORKFLOW_FILE });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports')
    .map((m) => m.message);
}

describe('workflow lint rules', () => {
  it.each([
    ["import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n", /no Node built-ins/],
    ["import crypto from 'crypto';\nexport const c = crypto;\n", /no Node built-ins/],
    [
      "import { createActivities } from '../activities/index.js';\nexport const a = createActivities;\n",
      /activities as types only/,
    ],
    [
      "import { stackUp } from '../src/stack/index.js';\nexport const s = stackUp;\n",
      /does I\/O; workflows reach it through an activity/,
    ],
  ])('refuses %j', async (code, message) => {
    const messages = await restrictedImportMessages(code);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(message);
  });

  it('allows type-only imports of activities and pure shared modules', async () => {
    const code =
      "import type { Activities } from '../activities/index.js';\nimport { TASK_QUEUE } from '../src/shared/temporal.js';\n" +
      'export type A = Activities;\nexport const q = TASK_QUEUE;\n';
    expect(await restrictedImportMessages(code)).toEqual([]);
  });
});
