// `cilium status` against a real kube-apiserver (+ etcd) on loopback, with the chart installed by the real
// helm (so the apiserver validates every object and CRD of the chart). No controllers and no kubelet run:
// the test plays them, writing the DaemonSet/Deployment/pod status fields through the status subresource,
// and checks the output and exit code of bin/cilium for a missing, rolling-out, unhealthy and healthy install,
// `--wait`, and a Relay toggled by `helm upgrade --reuse-values`.
// Needs lab/build-upstream.sh's binaries (or $CILIUM_LAB_UPSTREAM_BIN) and `make build` (bin/cilium).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestControlPlane } from './lib/test-control-plane.js';
import { sleep } from './lib/test-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CILIUM = join(ROOT, 'bin', 'cilium');
const CHART = join(ROOT, 'install/kubernetes/cilium');

describe('cilium status against a real API server', () => {
  const cp = new TestControlPlane();
  let bin = '';
  let env: NodeJS.ProcessEnv = {};

  const kubectl = (...args: string[]): string => execFileSync(join(bin, 'kubectl'), args, { env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const kubectlIn = (input: string, ...args: string[]): string => execFileSync(join(bin, 'kubectl'), args, { env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const helm = (...args: string[]): string => {
    try {
      return execFileSync(join(bin, 'helm'), args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`helm ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  };
  const status = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(CILIUM, ['status', ...args], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const patchStatus = (kind: string, name: string, st: object, ns = 'kube-system'): void => {
    kubectl('-n', ns, 'patch', kind, name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: st }));
  };
  const generation = (kind: string, name: string): number => Number(kubectl('-n', 'kube-system', 'get', kind, name, '-o', 'jsonpath={.metadata.generation}'));
  const dsStatus = (desired: number, ready: number) => ({
    currentNumberScheduled: desired,
    desiredNumberScheduled: desired,
    numberMisscheduled: 0,
    numberReady: ready,
    numberAvailable: ready,
    numberUnavailable: desired - ready,
    updatedNumberScheduled: desired,
    observedGeneration: generation('daemonset', 'cilium'),
  });
  const deployStatus = (name: string, replicas: number, ready: number) => ({
    replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    unavailableReplicas: replicas - ready,
    updatedReplicas: replicas,
    observedGeneration: generation('deployment', name),
  });
  /** A pod as the DaemonSet/Deployment would have made it, Running with its containers running. */
  const runPod = (name: string, labels: Record<string, string>, containers: Array<{ name: string; image: string }>, hostNetwork: boolean, ns = 'kube-system'): void => {
    kubectlIn(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { hostNetwork, containers } }), 'apply', '-f', '-');
    patchStatus(
      'pod',
      name,
      {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: containers.map((c) => ({ name: c.name, image: c.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: new Date().toISOString() } } })),
      },
      ns,
    );
  };

  beforeAll(async () => {
    if (!existsSync(CILIUM)) throw new Error(`${CILIUM} is missing: run make build first`);
    await cp.start({ name: 'status-test' });
    bin = cp.bin;
    const dir = cp.workDir;
    env = { ...process.env, KUBECONFIG: cp.kubeconfig, NO_COLOR: '1', HELM_CACHE_HOME: join(dir, 'helm/cache'), HELM_CONFIG_HOME: join(dir, 'helm/config'), HELM_DATA_HOME: join(dir, 'helm/data') };
  }, 7_200_000);

  afterAll(async () => {
    await cp.stop();
  });

  it('no install: exit 1, the agent DaemonSet is missing, the rest disabled', async () => {
    const r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(' /¯¯\\__/¯¯\\    Cilium:             1 errors\n');
    expect(r.stdout).toContain(' \\__/¯¯\\__/    Operator:           disabled\n');
    expect(r.stdout).toContain('daemonsets.apps "cilium" not found');
    expect(r.stderr).toContain('Error: Cilium is not healthy: cilium: daemonsets.apps "cilium" not found');
  });

  it('helm install with the 1.10 install guide values is accepted by the API server (objects and CRDs)', () => {
    helm('install', 'cilium', CHART, '-n', 'kube-system', '-f', join(ROOT, 'install/kubernetes/values-install-guide-1.10.yaml'), '--set', 'k8sServiceHost=127.0.0.1', '--set', 'k8sServicePort=6443');
    expect(kubectl('get', 'crd', '-o', 'name').split('\n').filter(Boolean).sort()).toEqual(
      ['ciliumclusterwidenetworkpolicies', 'ciliumendpoints', 'ciliumidentities', 'ciliumloadbalancerippools', 'ciliumnetworkpolicies', 'ciliumnodes'].map((n) => `customresourcedefinition.apiextensions.k8s.io/${n}.cilium.io`),
    );
    expect(kubectl('-n', 'kube-system', 'get', 'configmap', 'cilium-config', '-o', 'jsonpath={.data.kube-proxy-replacement}')).toBe('strict');
  });

  it('a fresh install nobody has rolled out yet is reported as such', async () => {
    const r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Errors: +cilium +cilium +daemonset cilium is updated but rollout has not started\n/);
    expect(r.stdout).toMatch(/cilium-operator +cilium-operator +deployment cilium-operator is updated but rollout has not started\n/);
    expect(r.stdout).toContain('Helm chart version:    1.16.0-cts.1\n');
  });

  it('an agent that is not ready: exit 1 and the reason', async () => {
    patchStatus('daemonset', 'cilium', dsStatus(2, 1));
    patchStatus('deployment', 'cilium-operator', deployStatus('cilium-operator', 2, 2));
    const agent = [{ name: 'cilium-agent', image: 'quay.io/cilium/cilium:v1.16.0-cts.1' }];
    const op = [{ name: 'cilium-operator', image: 'quay.io/cilium/operator-generic:v1.16.0-cts.1' }];
    runPod('cilium-node1', { 'k8s-app': 'cilium' }, agent, true);
    runPod('cilium-node2', { 'k8s-app': 'cilium' }, agent, true);
    runPod('cilium-operator-aaaa', { 'io.cilium/app': 'operator', name: 'cilium-operator' }, op, true);
    runPod('cilium-operator-bbbb', { 'io.cilium/app': 'operator', name: 'cilium-operator' }, op, true);
    const r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(' /¯¯\\__/¯¯\\    Cilium:             1 errors\n');
    expect(r.stdout).toContain('DaemonSet              cilium             Desired: 2, Ready: 1/2, Available: 1/2, Unavailable: 1/2\n');
    expect(r.stdout).toMatch(/Errors: +cilium +cilium +1 pods of DaemonSet cilium are not ready\n/);
    expect(r.stderr).toContain('Error: Cilium is not healthy: cilium: 1 pods of DaemonSet cilium are not ready');
  });

  it('--wait returns once the install is healthy; the healthy layout; exit 0', async () => {
    const waiting = status('--wait', '--wait-duration', '2m');
    await sleep(3000);
    patchStatus('daemonset', 'cilium', dsStatus(2, 2));
    const r = await waiting;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '    /¯¯\\',
        ' /¯¯\\__/¯¯\\    Cilium:             OK',
        ' \\__/¯¯\\__/    Operator:           OK',
        ' /¯¯\\__/¯¯\\    Envoy DaemonSet:    disabled (using embedded mode)',
        ' \\__/¯¯\\__/    Hubble Relay:       disabled',
        '    \\__/       ClusterMesh:        disabled',
        '',
        'DaemonSet              cilium             Desired: 2, Ready: 2/2, Available: 2/2',
        'Deployment             cilium-operator    Desired: 2, Ready: 2/2, Available: 2/2',
        'Containers:            cilium             Running: 2',
        '                       cilium-operator    Running: 2',
        'Cluster Pods:          0/0 managed by Cilium',
        'Helm chart version:    1.16.0-cts.1',
        'Image versions         cilium             quay.io/cilium/cilium:v1.16.0-cts.1: 2',
        '                       cilium-operator    quay.io/cilium/operator-generic:v1.16.0-cts.1: 2',
        'KubeProxyReplacement:    Strict   [NodePort (SNAT, 30000-32767, Random), HostPort, ExternalIPs, SocketLB, SessionAffinity]',
        '',
      ].join('\n'),
    );
  });

  it('--wait gives up after --wait-duration with exit 1 and the reasons', async () => {
    patchStatus('daemonset', 'cilium', dsStatus(2, 0));
    const r = await status('--wait', '--wait-duration', '5s');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: timeout while waiting for status to become successful \(waited 5s\): cilium: 2 pods of DaemonSet cilium are not ready/);
    patchStatus('daemonset', 'cilium', dsStatus(2, 2));
  });

  it('-n and --context select what is read', async () => {
    const other = await status('-n', 'default');
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('daemonsets.apps "cilium" not found');
    const bad = await status('--context', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('context "nope" does not exist in the kubeconfig');
  });

  it('helm upgrade --reuse-values enables Relay and UI; status follows; helm delete removes the install', async () => {
    helm('upgrade', 'cilium', CHART, '-n', 'kube-system', '--reuse-values', '--set', 'hubble.relay.enabled=true', '--set', 'hubble.ui.enabled=true');
    expect(kubectl('-n', 'kube-system', 'get', 'configmap', 'cilium-config', '-o', 'jsonpath={.data.kube-proxy-replacement}')).toBe('strict');
    let r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Hubble Relay: +\d+ errors\n/);
    expect(r.stdout).toContain('Deployment             hubble-relay       ');
    // the upgrade changed the pod templates (config checksum): roll the agent and operator "out" again
    patchStatus('daemonset', 'cilium', dsStatus(2, 2));
    patchStatus('deployment', 'cilium-operator', deployStatus('cilium-operator', 2, 2));
    patchStatus('deployment', 'hubble-relay', deployStatus('hubble-relay', 1, 1));
    patchStatus('deployment', 'hubble-ui', deployStatus('hubble-ui', 1, 1));
    runPod('hubble-relay-cccc', { 'k8s-app': 'hubble-relay' }, [{ name: 'hubble-relay', image: 'quay.io/cilium/hubble-relay:v1.16.0-cts.1' }], false);
    runPod('hubble-ui-dddd', { 'k8s-app': 'hubble-ui' }, [{ name: 'frontend', image: 'quay.io/cilium/hubble-ui:v0.13.1' }, { name: 'backend', image: 'quay.io/cilium/hubble-ui-backend:v0.13.1' }], false);
    r = await status();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(' \\__/¯¯\\__/    Hubble Relay:       OK\n');
    expect(r.stdout).toContain('Deployment             hubble-relay       Desired: 1, Ready: 1/1, Available: 1/1\n');
    expect(r.stdout).toContain('Deployment             hubble-ui          Desired: 1, Ready: 1/1, Available: 1/1\n');
    expect(r.stdout).toContain('Cluster Pods:          0/2 managed by Cilium\n');
    expect(r.stdout).toContain('                       hubble-ui          quay.io/cilium/hubble-ui-backend:v0.13.1: 1\n');
    helm('delete', 'cilium', '-n', 'kube-system');
    r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('daemonsets.apps "cilium" not found');
    expect(r.stdout).toContain(' \\__/¯¯\\__/    Hubble Relay:       disabled\n');
  });
});
