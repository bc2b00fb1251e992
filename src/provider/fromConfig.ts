/** The `FleetProvider` the configuration names: the simulator over HTTP, or a Kubernetes cluster. */
import { isAbsolute, join, resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { UnderstudyConfig } from '../config/schema.js';
import { PROJECT_ROOT, stackPaths } from '../stack/paths.js';
import { HttpFleetProvider } from './client.js';
import type { FleetProvider } from './types.js';

/** Where the embedded Kubernetes test bed keeps its binaries, certificates and state. */
export const kubernetesBedDir = (config: UnderstudyConfig): string => join(stackPaths(config).stateDir, 'kubernetes');

/** The kubeconfig `provider.kubeconfig` names; the embedded bed's admin kubeconfig when absent; undefined in-cluster. */
export function kubeconfigPath(config: UnderstudyConfig): string | undefined {
  const configured = config.provider.kubeconfig;
  if (configured === 'in-cluster') return undefined;
  if (configured === undefined) return join(kubernetesBedDir(config), 'pki', 'admin.kubeconfig');
  return isAbsolute(configured) ? configured : resolve(PROJECT_ROOT, configured);
}

/**
 * The Kubernetes modules load only when configured: the client library takes half a second to load, which every
 * `understudy` command would otherwise pay.
 */
export async function providerFromConfig({ config, secrets }: LoadedConfig): Promise<FleetProvider> {
  if (config.provider.kind === 'kubernetes') {
    const { bedClient, kwokNodeFactory, statusPatchSizer } = await import('./kubernetes/bed.js');
    const { KubernetesFleetProvider } = await import('./kubernetes/provider.js');
    const kubeconfig = kubeconfigPath(config);
    // Nodes are created and sized the test bed's way (kwok plays them; their status carries their size). On a cloud,
    // these two seams are where an adapter adds machines to a node group and resizes them (docs/kubernetes.md).
    const client = bedClient(kubeconfig);
    return new KubernetesFleetProvider({
      ...(kubeconfig === undefined ? {} : { kubeconfig }),
      namespace: config.provider.namespace,
      sizer: statusPatchSizer(client),
      nodeFactory: kwokNodeFactory(client),
    });
  }
  return new HttpFleetProvider({
    url: config.provider.url,
    token: secrets.providerToken,
    requestTimeoutMs: config.provider.requestTimeoutMs,
  });
}
