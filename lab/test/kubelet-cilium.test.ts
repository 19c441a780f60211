// The lab kubelet with our own CNI plugin: `cilium-lab up --nodes 1` (its kubelet), then a hostNetwork
// agent pod whose init container (cilium-install-cni from the quay.io/cilium/cilium image) installs
// cilium-cni and its conflist into the node's hostPath /opt/cni/bin and /etc/cni/net.d. The node turns
// Ready, two pods get addresses from the agent's pod CIDR through cilium-cni (called by the kubelet as
// containerd calls it), one reaches the other, the agent lists both endpoints with their pod names
// (CNI_ARGS), and deleting them runs DEL (the endpoints go). Needs root, bin/ and the upstream binaries.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApi, type KubeObject } from '../src/kubelet/kube-client.js';

const root = join(import.meta.dirname, '..', '..');
const labBin = join(root, 'bin', 'cilium-lab');
const suffix = Math.random().toString(36).slice(2, 7).replace(/^[0-9]/, 'c');
const labName = `kc${suffix}`;
const podCidr = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}.0/24`;
let api: KubeApi;
let node: { name: string; netns: string; dir: string };
let up = false;

function lab(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [labBin, ...args], { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      let log = '';
      try {
        log = readFileSync(join('/run/cilium-lab', labName, 'logs', `kubelet-${node.name}.log`), 'utf8').split('\n').slice(-30).join('\n');
      } catch {
        // none
      }
      throw new Error(`timed out waiting for ${what}\n--- kubelet log ---\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const pod = (name: string, ns = 'default') => api.request<KubeObject>('GET', `/api/v1/namespaces/${ns}/pods/${name}`).then((r) => (r.status === 200 ? r.body : undefined));
const ready = (p: KubeObject | undefined) => ((p?.status?.['conditions'] as Array<{ type: string; status: string }> | undefined) ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function endpoints(): string {
  const sock = join(node.dir, 'run-cilium', 'cilium.sock');
  return execFileSync('nsenter', [`--net=/run/netns/${node.netns}`, process.execPath, join(root, 'bin', 'cilium-dbg'), '-H', `unix://${sock}`, 'endpoint', 'list'], { encoding: 'utf8' });
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
  execFileSync('bash', [join(root, 'lab', 'build-upstream.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000 });
  const r = lab(['up', '--name', labName, '--nodes', '1']);
  if (r.status !== 0) throw new Error(`cilium-lab up: ${r.stderr}\n${r.stdout}`);
  up = true;
  const state = JSON.parse(readFileSync(join('/run/cilium-lab', labName, 'state.json'), 'utf8')) as { nodes: Array<{ name: string; netns: string; dir: string }> };
  node = state.nodes[0]!;
  api = new KubeApi(join('/run/cilium-lab', labName, 'admin.kubeconfig'));
});

afterAll(() => {
  if (up) lab(['down', '--name', labName]);
});

describe('lab kubelet with cilium-cni', () => {
  it('a hostNetwork agent pod installs the CNI; pods are wired by cilium-cni and unwired on delete', async () => {
    await api.call('POST', '/api/v1/namespaces/kube-system/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent' },
      spec: {
        nodeName: node.name,
        hostNetwork: true,
        terminationGracePeriodSeconds: 5,
        initContainers: [{
          name: 'install-cni',
          image: 'quay.io/cilium/cilium:v1.16.0',
          command: ['cilium-install-cni'],
          env: [{ name: 'CNI_BIN_DIR', value: '/host/opt/cni/bin' }, { name: 'CNI_CONF_DIR', value: '/host/etc/cni/net.d' }, { name: 'CILIUM_SOCKET_PATH', value: '/var/run/cilium/cilium.sock' }],
          volumeMounts: [{ name: 'cni-path', mountPath: '/host/opt/cni/bin' }, { name: 'etc-cni-netd', mountPath: '/host/etc/cni/net.d' }],
        }],
        containers: [{
          name: 'cilium-agent',
          image: 'quay.io/cilium/cilium:v1.16.0',
          command: ['cilium-agent'],
          args: ['--pod-cidr', podCidr, '--node-name', '$(K8S_NODE_NAME)'],
          env: [{ name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          readinessProbe: { exec: { command: ['cilium-dbg', 'status'] }, periodSeconds: 2 },
          volumeMounts: [{ name: 'bpf-maps', mountPath: '/sys/fs/bpf' }, { name: 'cilium-run', mountPath: '/var/run/cilium' }],
        }],
        volumes: [
          { name: 'cilium-run', hostPath: { path: '/var/run/cilium', type: 'DirectoryOrCreate' } },
          { name: 'bpf-maps', hostPath: { path: '/sys/fs/bpf', type: 'DirectoryOrCreate' } },
          { name: 'cni-path', hostPath: { path: '/opt/cni/bin', type: 'DirectoryOrCreate' } },
          { name: 'etc-cni-netd', hostPath: { path: '/etc/cni/net.d', type: 'DirectoryOrCreate' } },
        ],
      },
    });
    await waitFor('the agent Ready', async () => (ready(await pod('agent', 'kube-system')) ? true : undefined));
    await waitFor('the Node Ready', async () => {
      const r = await api.request<KubeObject>('GET', `/api/v1/nodes/${node.name}`);
      return (r.body.status?.['conditions'] as Array<{ type: string; status: string }>).some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });

    for (const [name, spec] of [
      ['echo', { containers: [{ name: 'echo', image: 'quay.io/cilium/json-mock:v1.3.8', readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } }] }],
      ['client', { containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'sleep 3600'] }] }],
    ] as const) {
      await api.call('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 2, ...spec } });
    }
    const echo = await waitFor('echo Ready', async () => {
      const p = await pod('echo');
      return ready(p) ? p : undefined;
    });
    const client = await waitFor('client Ready', async () => {
      const p = await pod('client');
      return ready(p) ? p : undefined;
    });
    const echoIp = echo.status?.['podIP'] as string;
    const prefix = podCidr.split('.').slice(0, 3).join('.');
    expect(echoIp.startsWith(`${prefix}.`)).toBe(true);
    expect((client.status?.['podIP'] as string).startsWith(`${prefix}.`)).toBe(true);

    const netns = client.metadata.annotations?.['lab.cilium-ts.io/netns'] ?? '';
    const r = spawnSync('nsenter', [`--net=${netns}`, 'curl', '-sS', '--max-time', '5', `http://${echoIp}:8080/public`], { encoding: 'utf8' });
    expect(r.stdout, r.stderr).toContain('public information');

    const eps = endpoints();
    expect(eps).toContain('default/echo');
    expect(eps).toContain('default/client');

    await api.call('DELETE', '/api/v1/namespaces/default/pods/echo');
    await api.call('DELETE', '/api/v1/namespaces/default/pods/client');
    await waitFor('both pods gone', async () => ((await pod('echo')) === undefined && (await pod('client')) === undefined ? true : undefined));
    const after = endpoints();
    expect(after).not.toContain('default/echo');
    expect(after).not.toContain('default/client');
  });
});
