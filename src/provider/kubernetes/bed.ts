/**
 * What the Kubernetes test bed does that a cloud would do for real: create nodes (kwok plays their kubelets), size
 * them (a patch of the node's status, which kwok keeps), fail them (stop their heartbeats), and the workloads and
 * PodDisruptionBudgets a user would deploy.
 */
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Node,
} from '@kubernetes/client-node';
import { sleep } from '../client.js';
import type { Capacity, DemandProfile } from '../types.js';
import {
  DEMAND_ANNOTATION,
  KWOK_MANAGED_LABEL,
  PAIR_LABEL,
  REQUIREMENTS_ANNOTATION,
  SERVES_LABEL,
  WORKLOAD_LABEL,
} from './names.js';
import { loadKubeConfig, type NodeFactory, type NodeSizer } from './provider.js';
import { capacityOf, resourceList } from './quantities.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Pods a bed node takes, beyond the resources (kubelet's default). */
const PODS_PER_NODE = '110';
/** An image no node pulls: kwok only pretends to run containers. */
const WORKLOAD_IMAGE = 'registry.invalid/understudy/workload:bed';

export interface KubernetesBedClient {
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  rbac: RbacAuthorizationV1Api;
}

export function bedClient(kubeconfig: string | undefined): KubernetesBedClient {
  const config = loadKubeConfig(kubeconfig);
  return {
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    policy: config.makeApiClient(PolicyV1Api),
    rbac: config.makeApiClient(RbacAuthorizationV1Api),
  };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(1e-3, Math.abs(b) * 1e-3);
const sameSize = (a: Capacity, b: Capacity): boolean =>
  close(a.cpuCores, b.cpuCores) &&
  close(a.memoryGiB, b.memoryGiB) &&
  close(a.storageIops, b.storageIops) &&
  close(a.networkMbps, b.networkMbps);

/** Sizes a bed node by patching its status; kwok keeps what it finds there. */
export function statusPatchSizer(client: KubernetesBedClient): NodeSizer {
  return {
    async resize(nodeName, allocatable) {
      const resources = { ...resourceList(allocatable), pods: PODS_PER_NODE };
      const wanted = capacityOf(resources);
      for (let attempt = 0; attempt < 40; attempt++) {
        await client.core.patchNodeStatus(
          { name: nodeName, body: { status: { capacity: resources, allocatable: resources } } },
          MERGE_PATCH,
        );
        const node = await client.core.readNode({ name: nodeName });
        if (sameSize(capacityOf(node.status?.allocatable), wanted)) return;
        // kwok's first status write may land after ours and replace it with its defaults: write again.
        await sleep(250);
      }
      throw new Error(`node ${nodeName} did not keep its new allocatable`);
    },
  };
}

/** Creates bed nodes that kwok plays. */
export function kwokNodeFactory(client: KubernetesBedClient): NodeFactory {
  return {
    async create(node: V1Node) {
      await client.core.createNode({
        body: {
          ...node,
          metadata: {
            ...node.metadata,
            labels: {
              ...node.metadata?.labels,
              [KWOK_MANAGED_LABEL]: 'true',
              'kubernetes.io/hostname': node.metadata!.name!,
            },
            annotations: { ...node.metadata?.annotations, 'kwok.x-k8s.io/node': 'fake' },
          },
        },
      });
    },
  };
}

export interface BedWorkload {
  id: string;
  pairId: string;
  requirements: Capacity;
  demand?: DemandProfile;
  /** Default Deployment. A StatefulSet's pod keeps its name, and Kubernetes never replaces it off a dead node alone. */
  kind?: 'Deployment' | 'StatefulSet';
}

/** The bed's stand-ins for what users deploy and for what fails. */
export class BedControl {
  constructor(
    private readonly client: KubernetesBedClient,
    readonly namespace: string,
  ) {}

  async ensureNamespace(): Promise<void> {
    await this.client.core
      .createNamespace({ body: { metadata: { name: this.namespace } } })
      .catch((error: { code?: number }) => {
        if (error.code !== 409) throw error;
      });
  }

  /**
   * A one-replica Deployment (or StatefulSet) whose pod may run only on the nodes serving its pair (its primary's,
   * and the shadows provisioned for it), reserving the workload's requirements.
   */
  async createWorkload(workload: BedWorkload): Promise<void> {
    const labels = { [WORKLOAD_LABEL]: workload.id, [PAIR_LABEL]: workload.pairId };
    const resources = resourceList(workload.requirements);
    const metadata = {
      name: workload.id,
      labels,
      annotations: {
        [REQUIREMENTS_ANNOTATION]: JSON.stringify(workload.requirements),
        ...(workload.demand ? { [DEMAND_ANNOTATION]: JSON.stringify(workload.demand) } : {}),
      },
    };
    const spec = {
      replicas: 1,
      selector: { matchLabels: { [WORKLOAD_LABEL]: workload.id } },
      template: {
        metadata: { labels },
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: SERVES_LABEL, operator: 'In', values: [workload.pairId] }] },
                ],
              },
            },
          },
          containers: [
            { name: 'workload', image: WORKLOAD_IMAGE, resources: { requests: resources, limits: resources } },
          ],
        },
      },
    };
    if (workload.kind === 'StatefulSet') {
      await this.client.apps.createNamespacedStatefulSet({
        namespace: this.namespace,
        body: { metadata, spec: { ...spec, serviceName: workload.id } },
      });
    } else {
      await this.client.apps.createNamespacedDeployment({ namespace: this.namespace, body: { metadata, spec } });
    }
  }

  /** A PodDisruptionBudget over the named workloads' pods. */
  async createDisruptionBudget(name: string, workloadIds: string[], minAvailable: number): Promise<void> {
    await this.client.policy.createNamespacedPodDisruptionBudget({
      namespace: this.namespace,
      body: {
        metadata: { name },
        spec: {
          minAvailable,
          selector: { matchExpressions: [{ key: WORKLOAD_LABEL, operator: 'In', values: workloadIds }] },
        },
      },
    });
  }

  async deleteDisruptionBudget(name: string): Promise<void> {
    await this.client.policy.deleteNamespacedPodDisruptionBudget({ name, namespace: this.namespace });
  }

  /** The pods of a pair's workloads that run and are Ready, with their nodes. */
  async readyPods(pairId: string): Promise<{ name: string; nodeName: string }[]> {
    const pods = await this.client.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `${PAIR_LABEL}=${pairId}`,
    });
    return pods.items
      .filter(
        (pod) =>
          !pod.metadata?.deletionTimestamp &&
          pod.status?.phase === 'Running' &&
          (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      )
      .map((pod) => ({ name: pod.metadata!.name!, nodeName: pod.spec!.nodeName! }));
  }

  /** Stops the node's heartbeats (kwok lets it go), so the controller-manager marks it NotReady. */
  async failNode(name: string): Promise<void> {
    await this.client.core.patchNode(
      { name, body: { metadata: { labels: { [KWOK_MANAGED_LABEL]: 'false' } } } },
      MERGE_PATCH,
    );
  }

  /** Deletes every workload, pod and node of the given pairs: a test's clean-up. */
  async removePairs(pairIds: string[]): Promise<void> {
    const selector = `${PAIR_LABEL} in (${pairIds.join(',')})`;
    await this.client.apps.deleteCollectionNamespacedDeployment({ namespace: this.namespace, labelSelector: selector });
    await this.client.apps.deleteCollectionNamespacedStatefulSet({
      namespace: this.namespace,
      labelSelector: selector,
    });
    await this.client.core.deleteCollectionNamespacedPod({
      namespace: this.namespace,
      labelSelector: selector,
      gracePeriodSeconds: 0,
    });
    await this.client.core.deleteCollectionNode({ labelSelector: selector });
  }
}
