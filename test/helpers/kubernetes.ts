/**
 * A Kubernetes test bed of the tests' own (its folder and ports apart from a bed `understudy` runs), with the
 * provider and the bed's controls connected to it.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BedControl, bedClient, kwokNodeFactory, statusPatchSizer } from '../../src/provider/kubernetes/bed.js';
import { KubernetesFleetProvider } from '../../src/provider/kubernetes/provider.js';
import { stackPaths } from '../../src/stack/index.js';
import {
  kubernetesBedUp,
  kubernetesBinDir,
  type KubernetesBed,
  type KubernetesBedOptions,
} from '../../src/stack/kubernetesBed.js';
import { testConfig } from './temporal.js';

export interface TestBed {
  bed: KubernetesBed;
  provider: KubernetesFleetProvider;
  control: BedControl;
  /** Node and workload names unique to this run (the bed's etcd outlives a run). */
  name(prefix: string): string;
}

/** Below the kernel's ephemeral range and apart from the default bed's ports. */
const TEST_BED_PORTS = {
  apiServer: 16543,
  etcdClient: 12479,
  etcdPeer: 12480,
  etcdMetrics: 12481,
  controllerManager: 20357,
  scheduler: 20359,
};

/** The tests' bed: started once per run by the global setup, shared by every test file (names keep them apart). */
export function testBedOptions(): KubernetesBedOptions {
  const stateDir = stackPaths(testConfig().config).stateDir;
  return { dir: join(stateDir, 'kubernetes-test'), binDir: kubernetesBinDir(stateDir), ports: TEST_BED_PORTS };
}

/** Connects to the tests' bed (starting it, when a file runs outside the global setup). */
export async function startTestBed(namespace = 'understudy-test'): Promise<TestBed> {
  const bed = await kubernetesBedUp(testBedOptions());
  const client = bedClient(bed.kubeconfig);
  const control = new BedControl(client, namespace);
  await control.ensureNamespace();
  const provider = new KubernetesFleetProvider({
    kubeconfig: bed.kubeconfig,
    namespace,
    sizer: statusPatchSizer(client),
    nodeFactory: kwokNodeFactory(client),
    evictionTimeoutMs: 5_000,
  });
  const run = randomUUID().slice(0, 6);
  return { bed, provider, control, name: (prefix) => `${prefix}-${run}` };
}
