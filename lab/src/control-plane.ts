// The control plane's command lines and the objects `up` creates once the apiserver answers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pki } from './certs.js';
import type { KubeClient } from './kube-client.js';
import {
  APISERVER_PORT, CLUSTER_DOMAIN, DNS_PORT, DNS_SERVICE_IP, ETCD_CLIENT_PORT, ETCD_PEER_PORT, SERVICE_CIDR, type LabLayout,
} from './layout.js';

export function etcdArgv(bin: string, lab: LabLayout): string[] {
  const client = `http://127.0.0.1:${ETCD_CLIENT_PORT}`;
  const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
  return [
    join(bin, 'etcd'),
    `--name=${lab.name}`,
    `--data-dir=${lab.etcdDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${lab.name}=${peer}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiserverArgv(bin: string, lab: LabLayout, pki: Pki): string[] {
  return [
    join(bin, 'kube-apiserver'),
    `--etcd-servers=http://127.0.0.1:${ETCD_CLIENT_PORT}`,
    // 0.0.0.0 of the cp netns: its lo (127.0.0.1) and its underlay address, nothing else exists there.
    '--bind-address=0.0.0.0',
    `--secure-port=${APISERVER_PORT}`,
    `--advertise-address=${lab.cpIp}`,
    `--tls-cert-file=${pki.apiserver.cert}`,
    `--tls-private-key-file=${pki.apiserver.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    `--service-account-issuer=https://kubernetes.default.svc.${CLUSTER_DOMAIN}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
    `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--profiling=false',
  ];
}

export function controllerManagerArgv(bin: string, kubeconfig: string, pki: Pki): string[] {
  return [
    join(bin, 'kube-controller-manager'),
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--use-service-account-credentials',
    "--controllers=*",
    // cilium-operator does pod IPAM (cluster-pool): no Node.spec.podCIDR from here.
    '--allocate-node-cidrs=false',
    `--cluster-signing-cert-file=${pki.ca.cert}`,
    `--cluster-signing-key-file=${pki.ca.key}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--profiling=false',
  ];
}

export function schedulerArgv(bin: string, kubeconfig: string): string[] {
  return [
    join(bin, 'kube-scheduler'),
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--profiling=false',
  ];
}

/** CoreDNS health (8080) and readiness (8181) listen on the cp netns's loopback. */
export const COREDNS_READY_URL = 'http://127.0.0.1:8181/ready';

export function writeCorefile(lab: LabLayout, kubeconfig: string): void {
  writeFileSync(
    lab.corefile,
    [
      `.:${DNS_PORT} {`,
      `    bind ${lab.cpIp} 127.0.0.1`,
      '    errors',
      '    health 127.0.0.1:8080',
      '    ready 127.0.0.1:8181',
      `    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`,
      `        kubeconfig ${kubeconfig}`,
      '        pods insecure',
      '        fallthrough in-addr.arpa ip6.arpa',
      '        ttl 30',
      '    }',
      '    cache 30',
      '    loadbalance',
      '}',
      '',
    ].join('\n'),
  );
}

export function corednsArgv(bin: string, lab: LabLayout): string[] {
  return [join(bin, 'coredns'), '-conf', lab.corefile];
}

/**
 * The resolv.conf the lab kubelet gives ClusterFirst pods: CoreDNS on the cp underlay address (no service
 * LB yet). The kubelet prepends `<namespace>.svc.cluster.local` to the search line.
 */
export function writeResolvConf(lab: LabLayout): void {
  writeFileSync(lab.resolvConf, `nameserver ${lab.cpIp}\nsearch svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}\noptions ndots:5\n`);
}

/** RBAC for CoreDNS (as upstream's deployment), the kube-dns Service and its EndpointSlice (CoreDNS in the cp netns). */
export async function createBootstrapObjects(kc: KubeClient, lab: LabLayout): Promise<void> {
  await kc.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'system:coredns', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
    rules: [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  });
  await kc.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'system:coredns', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:coredns' }],
  });
  const ports = [
    { name: 'dns', port: DNS_PORT, protocol: 'UDP' },
    { name: 'dns-tcp', port: DNS_PORT, protocol: 'TCP' },
  ];
  await kc.create('/api/v1/namespaces/kube-system/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
    spec: { clusterIP: DNS_SERVICE_IP, ports: ports.map((p) => ({ ...p, targetPort: p.port })) },
  });
  await kc.create('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kube-dns-lab',
      namespace: 'kube-system',
      labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'cilium-lab' },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [lab.cpIp], conditions: { ready: true, serving: true, terminating: false } }],
    ports,
  });
}
