/**
 * A node's heartbeat as its Lease in `kube-node-lease` tells it: the kubelet renews the lease every quarter of its
 * duration, and a lease not renewed for a whole duration has expired. Like the node lifecycle controller, the watcher
 * times a lease by its own clock from when it saw the renew time change, never by the renew time itself, so clock
 * skew between the node and Understudy cannot fail a node. The lease answers even when the controller-manager,
 * which turns a silent node NotReady, is down. Pure.
 */

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** The kubelet's default `nodeLeaseDurationSeconds`, for a lease that does not state its own. */
export const DEFAULT_NODE_LEASE_SECONDS = 40;

/** What a Lease says: its renew time as the node wrote it, and its duration. */
export interface LeaseReading {
  renewTime: string;
  durationSeconds: number;
}

/** When this watcher first saw a renew time. */
export interface LeaseObservation {
  renewTime: string;
  seenAtMs: number;
}

export interface LeaseVerdict {
  observation: LeaseObservation | undefined;
  /** Set when the lease has gone unrenewed for longer than its duration: how long, in whole seconds. */
  silentForSeconds?: number;
}

export function judgeLease(
  previous: LeaseObservation | undefined,
  lease: LeaseReading | undefined,
  nowMs: number,
): LeaseVerdict {
  // A cluster without node leases (or a node that never wrote one) is judged by its Ready condition alone.
  if (lease === undefined) return { observation: undefined };
  if (previous === undefined || previous.renewTime !== lease.renewTime) {
    return { observation: { renewTime: lease.renewTime, seenAtMs: nowMs } };
  }
  const silentMs = nowMs - previous.seenAtMs;
  return silentMs > lease.durationSeconds * 1000
    ? { observation: previous, silentForSeconds: Math.floor(silentMs / 1000) }
    : { observation: previous };
}
