/**
 * Starts the embedded stack once per test run (reusing services that already run, e.g. from `npm start`) and
 * bundles the workflow code once for every worker the tests create. Stops only what it started.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../src/config/load.js';
import { stackDown, stackPaths, stackUp } from '../src/stack/index.js';
import { kubernetesBedUp } from '../src/stack/kubernetesBed.js';
import { bundleWorkflows } from '../src/worker.js';
import { testBedOptions } from './helpers/kubernetes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { config } = loadConfig(undefined, {});
  const stack = await stackUp(config);
  // The Kubernetes tests' bed, shared by their files like the stack.
  const bed = await kubernetesBedUp(testBedOptions());
  const bundle = await bundleWorkflows();
  if (!('code' in bundle)) throw new Error('expected an in-memory workflow bundle');
  const dir = join(stackPaths(config).stateDir, 'test');
  mkdirSync(dir, { recursive: true });
  // One file per run: two runs at once (two developers' terminals, or CI beside a benchmark) must not overwrite
  // each other's bundle while a worker is loading it.
  const workflowBundlePath = join(dir, `workflow-bundle-${process.pid}.js`);
  writeFileSync(workflowBundlePath, bundle.code);
  project.provide('workflowBundlePath', workflowBundlePath);

  // Only what this run started is stopped: services someone else brought up (npm start) keep running.
  const startedHere = stack.services.filter((s) => !s.reused).map((s) => s.name);
  return async () => {
    rmSync(workflowBundlePath, { force: true });
    if (process.env.UNDERSTUDY_KEEP_STACK === '1') return;
    if (startedHere.length > 0) await stackDown(config, startedHere);
    if (!bed.reused) await bed.down();
  };
}
