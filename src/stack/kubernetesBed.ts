/**
 * The Kubernetes test bed: a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with
 * kwok playing the nodes' kubelets, all on loopback, built from Go modules by scripts/install-kubernetes.sh and
 * started here as detached processes like the rest of the embedded stack. Certificates come from a CA the bed makes
 * for itself on first start (openssl); the admin identity's kubeconfig is what Understudy and a user's kubectl use.
 *
 * Which nodes kwok plays: those labelled `kwok.x-k8s.io/managed=true`. Setting that label to false stops a node's
 * heartbeats, which is how the bed fails a node (the controller-manager marks it NotReady after its grace period).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { KWOK_MANAGED_LABEL } from '../provider/kubernetes/names.js';
import {
  ServiceError,
  runningPid,
  startDetached,
  stopProcess,
  waitUntilHealthy,
  type ManagedProcess,
} from './process.js';

export interface KubernetesBedPorts {
  apiServer: number;
  etcdClient: number;
  etcdPeer: number;
  etcdMetrics: number;
  controllerManager: number;
  scheduler: number;
}

/** Below the kernel's ephemeral range, apart from the embedded stack's ports and Kubernetes' own defaults. */
export const DEFAULT_BED_PORTS: KubernetesBedPorts = {
  apiServer: 16443,
  etcdClient: 12379,
  etcdPeer: 12380,
  etcdMetrics: 12381,
  controllerManager: 20257,
  scheduler: 20259,
};

export interface KubernetesBedOptions {
  /** The bed's own folder: certificates, etcd's data, logs and process ids. */
  dir: string;
  /** Where scripts/install-kubernetes.sh put the binaries and kwok's stages. */
  binDir: string;
  ports?: Partial<KubernetesBedPorts>;
  /**
   * How long a node may miss heartbeats before the controller-manager marks it NotReady. Kubernetes' default is
   * 40 s (50 s since 1.32); the bed's default is 20 s, so a failed node shows in a test's time.
   */
  nodeMonitorGracePeriodSeconds?: number;
}

export interface KubernetesBed {
  /** The admin kubeconfig: a user's `kubectl --kubeconfig` and Understudy's `provider.kubeconfig`. */
  kubeconfig: string;
  server: string;
  ports: KubernetesBedPorts;
  /** The apiserver's process id, and whether the bed was running already. */
  pid: number;
  reused: boolean;
  down(): Promise<string[]>;
}

const BED_COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
const START_TIMEOUT_MS = 90_000;

const bedPaths = (options: KubernetesBedOptions) => ({
  pki: join(options.dir, 'pki'),
  etcdData: join(options.dir, 'etcd-data'),
  certDir: join(options.dir, 'apiserver-certs'),
  logsDir: join(options.dir, 'logs'),
  pidsDir: join(options.dir, 'pids'),
  stages: join(options.binDir, '..', 'kwok-stages.yaml'),
});

const componentProcess = (options: KubernetesBedOptions, name: string): ManagedProcess => {
  const paths = bedPaths(options);
  return { name, pidsDir: paths.pidsDir, logsDir: paths.logsDir };
};

export const kubernetesBinDir = (stateDir: string): string => join(stateDir, 'kubernetes', 'bin');

/** The binaries the bed needs that are not built yet (empty when it can start). */
export function missingBedBinaries(binDir: string): string[] {
  return [...BED_COMPONENTS.map((name) => join(binDir, name)), join(binDir, '..', 'kwok-stages.yaml')].filter(
    (path) => !existsSync(path),
  );
}

// ---- certificates -----------------------------------------------------------------------------------------------

/**
 * The identities the bed's components and its users connect as. RBAC's bootstrap roles know the scheduler and the
 * controller-manager; `operator` starts with no permissions at all, for what a cluster admin grants (or does not).
 */
const CLIENT_IDENTITIES: Record<string, { commonName: string; organisation?: string }> = {
  admin: { commonName: 'understudy-admin', organisation: 'system:masters' },
  operator: { commonName: 'understudy-operator' },
  scheduler: { commonName: 'system:kube-scheduler' },
  'controller-manager': { commonName: 'system:kube-controller-manager' },
  kwok: { commonName: 'kwok', organisation: 'system:masters' },
};

function openssl(pki: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new ServiceError(`openssl ${args[0]} failed making the bed's certificates: ${stderr || String(error)}`);
  }
}

function signedCertificate(pki: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(pki, `${name}.ext`), `[ext]\nbasicConstraints=CA:FALSE\n${extensions}\n`);
  openssl(pki, ['genrsa', '-out', `${name}.key`, '2048']);
  openssl(pki, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  openssl(pki, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '3650',
    '-extfile',
    `${name}.ext`,
    '-extensions',
    'ext',
    '-out',
    `${name}.crt`,
  ]);
  rmSync(join(pki, `${name}.csr`));
  rmSync(join(pki, `${name}.ext`));
}

function kubeconfigFor(pki: string, identity: string, server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: understudy-bed',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${join(pki, 'ca.crt')}`,
    'users:',
    `- name: ${identity}`,
    '  user:',
    `    client-certificate: ${join(pki, `${identity}.crt`)}`,
    `    client-key: ${join(pki, `${identity}.key`)}`,
    'contexts:',
    '- name: understudy-bed',
    `  context: {cluster: understudy-bed, user: ${identity}}`,
    'current-context: understudy-bed',
    '',
  ].join('\n');
}

/**
 * Makes the CA, the serving certificate, the service-account keys and each client certificate once; kubeconfigs
 * every start.
 */
function ensureCertificates(pki: string, server: string): void {
  mkdirSync(pki, { recursive: true });
  if (!existsSync(join(pki, 'sa.pub'))) {
    openssl(pki, ['genrsa', '-out', 'ca.key', '2048']);
    openssl(pki, [
      'req',
      '-x509',
      '-new',
      '-nodes',
      '-key',
      'ca.key',
      '-subj',
      '/CN=understudy-bed-ca',
      '-days',
      '3650',
      '-out',
      'ca.crt',
    ]);
    signedCertificate(
      pki,
      'apiserver',
      '/CN=kube-apiserver',
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' +
        'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
        'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
    );
    openssl(pki, ['genrsa', '-out', 'sa.key', '2048']);
    openssl(pki, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  }
  // Each identity once, so an identity added later joins a bed made before it.
  for (const [name, { commonName, organisation }] of Object.entries(CLIENT_IDENTITIES)) {
    if (existsSync(join(pki, `${name}.crt`))) continue;
    signedCertificate(
      pki,
      name,
      `/CN=${commonName}${organisation ? `/O=${organisation}` : ''}`,
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth',
    );
  }
  // Written every start: the server's port may have changed since the certificates were made.
  for (const identity of Object.keys(CLIENT_IDENTITIES)) {
    writeFileSync(join(pki, `${identity}.kubeconfig`), kubeconfigFor(pki, identity, server));
  }
}

// ---- health probes ----------------------------------------------------------------------------------------------

function httpAnswers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** GET over TLS; with the admin's certificate for the apiserver, without verification for the components. */
function httpsAnswers(url: string, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { timeout: 2_000, ...tls, rejectUnauthorized: tls.ca !== undefined }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

// ---- up and down ------------------------------------------------------------------------------------------------

function componentArgs(
  name: (typeof BED_COMPONENTS)[number],
  options: KubernetesBedOptions,
  ports: KubernetesBedPorts,
): string[] {
  const paths = bedPaths(options);
  const pki = (file: string) => join(paths.pki, file);
  const asComponent = (identity: string) => [
    `--kubeconfig=${pki(`${identity}.kubeconfig`)}`,
    `--authentication-kubeconfig=${pki(`${identity}.kubeconfig`)}`,
    `--authorization-kubeconfig=${pki(`${identity}.kubeconfig`)}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
  ];
  switch (name) {
    case 'etcd':
      return [
        '--name=understudy-bed',
        `--data-dir=${paths.etcdData}`,
        `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-cluster=understudy-bed=http://127.0.0.1:${ports.etcdPeer}`,
        `--listen-metrics-urls=http://127.0.0.1:${ports.etcdMetrics}`,
        // A test bed: a lost commit on power loss costs nothing, and fsync per write slows every API call.
        '--unsafe-no-fsync=true',
      ];
    case 'kube-apiserver':
      return [
        `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.apiServer}`,
        // Endpoints may not hold a loopback address, so the apiserver must not publish its own.
        '--endpoint-reconciler-type=none',
        `--tls-cert-file=${pki('apiserver.crt')}`,
        `--tls-private-key-file=${pki('apiserver.key')}`,
        `--client-ca-file=${pki('ca.crt')}`,
        // The controllers look for a front-proxy CA; none of the bed's client certificates may act as that proxy.
        `--requestheader-client-ca-file=${pki('ca.crt')}`,
        '--requestheader-allowed-names=understudy-front-proxy',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki('sa.pub')}`,
        `--service-account-signing-key-file=${pki('sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=Node,RBAC',
        `--cert-dir=${paths.certDir}`,
      ];
    case 'kube-controller-manager':
      return [
        ...asComponent('controller-manager'),
        `--secure-port=${ports.controllerManager}`,
        `--service-account-private-key-file=${pki('sa.key')}`,
        `--root-ca-file=${pki('ca.crt')}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${pki('ca.crt')}`,
        `--cluster-signing-key-file=${pki('ca.key')}`,
        '--node-monitor-period=2s',
        `--node-monitor-grace-period=${options.nodeMonitorGracePeriodSeconds ?? 20}s`,
        '--kube-api-qps=100',
        '--kube-api-burst=200',
        '--controllers=*,-bootstrapsigner,-tokencleaner',
      ];
    case 'kube-scheduler':
      return [
        ...asComponent('scheduler'),
        `--secure-port=${ports.scheduler}`,
        '--kube-api-qps=100',
        '--kube-api-burst=200',
      ];
    case 'kwok':
      return [
        `--kubeconfig=${pki('kwok.kubeconfig')}`,
        `--config=${paths.stages}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-label-selector=${KWOK_MANAGED_LABEL}=true`,
        '--node-lease-duration-seconds=40',
        '--cidr=10.0.0.1/16',
        '--node-ip=10.0.0.1',
      ];
  }
}

/**
 * Starts the bed's components in order (etcd, the apiserver, then the controllers and kwok), each waited on until
 * it answers; a component already running from this folder is reused. Refuses before starting anything when a
 * binary is missing.
 */
export async function kubernetesBedUp(options: KubernetesBedOptions): Promise<KubernetesBed> {
  const missing = missingBedBinaries(options.binDir);
  if (missing.length > 0) {
    throw new ServiceError(
      `the Kubernetes test bed is not built (missing ${missing.join(', ')}); run \`bash scripts/install-kubernetes.sh\``,
    );
  }
  const ports = { ...DEFAULT_BED_PORTS, ...options.ports };
  const paths = bedPaths(options);
  const server = `https://127.0.0.1:${ports.apiServer}`;
  ensureCertificates(paths.pki, server);
  const admin = {
    ca: readFileSync(join(paths.pki, 'ca.crt')),
    cert: readFileSync(join(paths.pki, 'admin.crt')),
    key: readFileSync(join(paths.pki, 'admin.key')),
  };
  const probes: Record<(typeof BED_COMPONENTS)[number], () => Promise<boolean>> = {
    etcd: () => httpAnswers(`http://127.0.0.1:${ports.etcdMetrics}/health`),
    'kube-apiserver': () => httpsAnswers(`${server}/readyz`, admin),
    'kube-controller-manager': () => httpsAnswers(`https://127.0.0.1:${ports.controllerManager}/healthz`, {}),
    'kube-scheduler': () => httpsAnswers(`https://127.0.0.1:${ports.scheduler}/healthz`, {}),
    // kwok serves nothing here; that it keeps running is checked by the wait below.
    kwok: () => Promise.resolve(true),
  };
  const started: string[] = [];
  try {
    for (const name of BED_COMPONENTS) {
      const proc = componentProcess(options, name);
      let pid = runningPid(proc);
      if (pid === undefined) {
        pid = startDetached(proc, join(options.binDir, name), componentArgs(name, options, ports), options.dir);
        started.push(name);
      }
      await waitUntilHealthy(proc, `${name} (the Kubernetes test bed)`, probes[name], START_TIMEOUT_MS, pid);
    }
    return {
      kubeconfig: join(paths.pki, 'admin.kubeconfig'),
      server,
      ports,
      pid: runningPid(componentProcess(options, 'kube-apiserver'))!,
      reused: started.length === 0,
      down: () => kubernetesBedDown(options),
    };
  } catch (error) {
    // Nothing half-done: what this call started stops again.
    for (const name of started.reverse()) await stopProcess(componentProcess(options, name));
    throw error;
  }
}

/** Stops every component, the apiserver's clients first; returns the names of those that were running. */
export async function kubernetesBedDown(options: KubernetesBedOptions): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of [...BED_COMPONENTS].reverse()) {
    if (await stopProcess(componentProcess(options, name))) stopped.push(name);
  }
  return stopped;
}

/** Stops the bed and deletes its cluster state (etcd's data), keeping its certificates. */
export async function kubernetesBedReset(options: KubernetesBedOptions): Promise<void> {
  await kubernetesBedDown(options);
  rmSync(bedPaths(options).etcdData, { recursive: true, force: true });
}
