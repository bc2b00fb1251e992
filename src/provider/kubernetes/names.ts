/**
 * The labels, annotations and taints through which Understudy describes a host pair on Kubernetes nodes. Every name
 * the Kubernetes provider, its test bed and the documentation use is defined here.
 *
 * Types and constants only: no I/O.
 */

/** Kubernetes' own topology labels: a host's region and zone. */
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** `primary` or `shadow`; a node without it is not Understudy's and is left alone. */
export const ROLE_LABEL = 'understudy.io/role';
/** The pair a node belongs to; a workload's pods may run only on the nodes of its pair. */
export const PAIR_LABEL = 'understudy.io/pair';
/**
 * The workloads a node may run: the Deployments whose pods require this value. A primary serves its own pair (its
 * name when unpaired); a shadow provisioned for a pair copies its primary's value, so the workloads follow their
 * primary through failovers and re-pairings, when the pair's id changes but the workloads stay the same.
 */
export const SERVES_LABEL = 'understudy.io/serves';
/** On a Deployment and its pods: the workload's id (the Deployment's name). */
export const WORKLOAD_LABEL = 'understudy.io/workload';

/** On a workload's Deployment: its requirements as JSON `Capacity`, and its demand profile as JSON (for the bed's
 * metrics); without them the requirements are read off the pod's requests. */
export const REQUIREMENTS_ANNOTATION = 'understudy.io/requirements';
export const DEMAND_ANNOTATION = 'understudy.io/demand';

/** The node's full size as JSON `Capacity`: its allocatable is this times the allocation. */
export const CAPACITY_ANNOTATION = 'understudy.io/capacity';
/** The share of the capacity the node holds now (a standby shadow 0.1-0.2, an active host 1). */
export const ALLOCATION_ANNOTATION = 'understudy.io/allocation';
/** The configuration as applied (JSON of the values), its sha256 and when it was applied. */
export const CONFIGURATION_ANNOTATION = 'understudy.io/configuration';
export const CONFIGURATION_HASH_ANNOTATION = 'understudy.io/configuration-hash';
export const CONFIGURATION_APPLIED_ANNOTATION = 'understudy.io/configuration-applied-at';
/** The host this node replicates from, set by `startReplication`. */
export const REPLICATING_FROM_ANNOTATION = 'understudy.io/replicating-from';
/**
 * The replicated data's version on this node, written by whatever replicates the data (a database operator, a
 * storage agent). Replication is caught up when the target's version equals the source's. Absent counts as 0.
 */
export const DATA_VERSION_ANNOTATION = 'understudy.io/data-version';

/** Keeps live placements off an inactive shadow; activation removes it. */
export const STANDBY_TAINT = { key: 'understudy.io/standby', value: 'true', effect: 'NoSchedule' } as const;
/**
 * Kubernetes' non-graceful node shutdown fence: the node's pods are deleted at once and its volumes detached, so
 * its workloads start elsewhere. Understudy applies it before it activates a failed primary's shadow, always.
 */
export const OUT_OF_SERVICE_TAINT = {
  key: 'node.kubernetes.io/out-of-service',
  value: 'nodeshutdown',
  effect: 'NoExecute',
} as const;

/** Extended resources for the two resources Kubernetes does not count itself. */
export const STORAGE_IOPS_RESOURCE = 'understudy.io/storage-iops';
export const NETWORK_MBPS_RESOURCE = 'understudy.io/network-mbps';

/** The test bed's: hands a node to kwok, which plays its kubelet; false stops its heartbeats (a failed node). */
export const KWOK_MANAGED_LABEL = 'kwok.x-k8s.io/managed';
