import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Workflows import the policy module, so it must stay deterministic: no Node built-ins, no clock, no randomness, no
// environment. The lint config guards workflows/ only; this guards src/policy/ too.
const dir = join(import.meta.dirname, '..', 'src', 'policy');
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

describe('src/policy purity', () => {
  it('has files to check', () => {
    expect(files).toEqual(expect.arrayContaining(['index.ts', 'placement.ts', 'scaling.ts', 'offPeak.ts', 'types.ts']));
  });

  it.each(files)(
    '%s imports only sibling policy modules and provider types, and reads no clock or randomness',
    (file) => {
      const source = readFileSync(join(dir, file), 'utf8');
      const imports = [...source.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] ?? '');
      const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
      for (const specifier of imports) {
        expect(builtins.has(specifier), `${file} imports the Node built-in ${specifier}`).toBe(false);
        expect(
          specifier.startsWith('./') || specifier === '../provider/types.js',
          `${file} imports ${specifier}; only ./… and ../provider/types.js are pure`,
        ).toBe(true);
      }
      expect(source).not.toMatch(/Date\.now\(|Math\.random\(|new Date\(\)|process\.|performance\.now/);
    },
  );
});
