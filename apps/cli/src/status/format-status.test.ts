// `cilium status` text against goldens written from cilium-cli's status.Format() (text/tabwriter minwidth 0,
// padding 4; the logo rows, PodStateCount.Format, formatPhaseCount, "Image versions", "Errors:" sections),
// and the collector on fixed cluster objects (the messages of cilium-cli's K8sStatusCollector).
import type { V1DaemonSet, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ClusterStatus } from './cluster-status.js';
import { collectStatus } from './collect-status.js';
import { formatStatus } from './format-status.js';
import { ApiUnreachableError } from './kube-status-source.js';
import { runStatus } from './run-status.js';
import type { StatusSource } from './status-source.js';

const HEALTHY = [
  '    /¯¯\\',
  ' /¯¯\\__/¯¯\\    Cilium:             OK',
  ' \\__/¯¯\\__/    Operator:           OK',
  ' /¯¯\\__/¯¯\\    Envoy DaemonSet:    disabled (using embedded mode)',
  ' \\__/¯¯\\__/    Hubble Relay:       OK',
  '    \\__/       ClusterMesh:        disabled',
  '',
  'DaemonSet              cilium             Desired: 2, Ready: 2/2, Available: 2/2',
  'Deployment             cilium-operator    Desired: 2, Ready: 2/2, Available: 2/2',
  'Deployment             hubble-relay       Desired: 1, Ready: 1/1, Available: 1/1',
  'Containers:            cilium             Running: 2',
  '                       cilium-operator    Running: 2',
  '                       hubble-relay       Running: 1',
  'Cluster Pods:          4/4 managed by Cilium',
  'Helm chart version:    1.16.0-cts.1',
  'Image versions         cilium             quay.io/cilium/cilium:v1.16.0-cts.1: 2',
  '                       cilium-operator    quay.io/cilium/operator-generic:v1.16.0-cts.1: 2',
  '                       hubble-relay       quay.io/cilium/hubble-relay:v1.16.0-cts.1: 1',
  '',
].join('\n');

const UNHEALTHY = [
  '    /¯¯\\',
  ' /¯¯\\__/¯¯\\    Cilium:             2 errors',
  ' \\__/¯¯\\__/    Operator:           1 errors, 1 warnings',
  ' /¯¯\\__/¯¯\\    Envoy DaemonSet:    disabled (using embedded mode)',
  ' \\__/¯¯\\__/    Hubble Relay:       disabled',
  '    \\__/       ClusterMesh:        disabled',
  '',
  'DaemonSet              cilium             Desired: 2, Ready: 1/2, Available: 1/2, Unavailable: 1/2',
  'Deployment             cilium-operator    Desired: 2, Ready: 1/2, Available: 1/2, Unavailable: 1/2',
  'Containers:            cilium             Running: 2',
  '                       cilium-operator    Running: 1, Pending: 1',
  'Cluster Pods:          1/3 managed by Cilium',
  'Helm chart version:    ',
  'Image versions         cilium             quay.io/cilium/cilium:v1.16.0-cts.1: 2',
  '                       cilium-operator    quay.io/cilium/operator-generic:v1.16.0-cts.1: 2',
  'Errors:                cilium             cilium                  1 pods of DaemonSet cilium are not ready',
  '                       cilium             cilium-x7k2p            container cilium-agent is in CrashLoopBackOff, exited with code 1: level=fatal msg="cannot reach the API server"',
  '                       cilium-operator    cilium-operator         1 pods of Deployment cilium-operator are not ready',
  'Warnings:              cilium-operator    cilium-operator-5c9f    pod is pending',
  '',
].join('\n');

// Fixed cluster objects, shaped as the API server returns them.
const ds = (desired: number, ready: number): V1DaemonSet => ({
  metadata: { name: 'cilium', namespace: 'kube-system', generation: 1 },
  status: { currentNumberScheduled: desired, desiredNumberScheduled: desired, numberMisscheduled: 0, numberReady: ready, numberAvailable: ready, numberUnavailable: desired - ready, updatedNumberScheduled: desired, observedGeneration: 1 },
});
const deploy = (name: string, replicas: number, ready: number): V1Deployment => ({
  metadata: { name, namespace: 'kube-system', generation: 2 },
  spec: { replicas, selector: {}, template: {} },
  status: { replicas, readyReplicas: ready, availableReplicas: ready, unavailableReplicas: replicas - ready, updatedReplicas: replicas, observedGeneration: 2 },
});
const pod = (name: string, labels: Record<string, string>, image: string, phase: string, extra: Partial<V1Pod['status']> = {}, hostNetwork = true): V1Pod => ({
  metadata: { name, namespace: 'kube-system', labels },
  spec: { hostNetwork, containers: [{ name: labels['k8s-app'] === 'cilium' ? 'cilium-agent' : 'c', image }] },
  status: { phase, ...extra },
});
const running = { containerStatuses: [{ name: 'cilium-agent', image: '', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date(0) } } }] };

class FixedSource implements StatusSource {
  constructor(
    private readonly objs: { daemonSets: V1DaemonSet[]; deployments: V1Deployment[]; pods: V1Pod[]; ceps: number | undefined; chart?: string },
  ) {}
  async getDaemonSet(_ns: string, name: string) {
    return this.objs.daemonSets.find((d) => d.metadata?.name === name);
  }
  async getDeployment(_ns: string, name: string) {
    return this.objs.deployments.find((d) => d.metadata?.name === name);
  }
  async listPods(ns: string | undefined, selector?: string) {
    const [k, v] = (selector ?? '=').split('=');
    return this.objs.pods.filter((p) => (ns === undefined || p.metadata?.namespace === ns) && (selector === undefined || p.metadata?.labels?.[k ?? ''] === v));
  }
  async countCiliumEndpoints() {
    return this.objs.ceps;
  }
  async helmChartVersion() {
    return this.objs.chart;
  }
}

const AGENT_IMG = 'quay.io/cilium/cilium:v1.16.0-cts.1';
const OP_IMG = 'quay.io/cilium/operator-generic:v1.16.0-cts.1';
const healthySource = (): FixedSource =>
  new FixedSource({
    daemonSets: [ds(2, 2)],
    deployments: [deploy('cilium-operator', 2, 2), deploy('hubble-relay', 1, 1)],
    pods: [
      pod('cilium-a1', { 'k8s-app': 'cilium' }, AGENT_IMG, 'Running', running),
      pod('cilium-b2', { 'k8s-app': 'cilium' }, AGENT_IMG, 'Running', running),
      pod('cilium-operator-1', { name: 'cilium-operator' }, OP_IMG, 'Running'),
      pod('cilium-operator-2', { name: 'cilium-operator' }, OP_IMG, 'Running'),
      { ...pod('hubble-relay-1', { 'k8s-app': 'hubble-relay' }, 'quay.io/cilium/hubble-relay:v1.16.0-cts.1', 'Running', {}, false) },
      { ...pod('web-1', { app: 'web' }, 'quay.io/cilium/json-mock', 'Running', {}, false), metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' } } },
      { ...pod('web-2', { app: 'web' }, 'quay.io/cilium/json-mock', 'Pending', {}, false), metadata: { name: 'web-2', namespace: 'default', labels: { app: 'web' } } },
      { ...pod('client', { app: 'c' }, 'quay.io/cilium/alpine-curl', 'Running', {}, false), metadata: { name: 'client', namespace: 'default', labels: { app: 'c' } } },
      { ...pod('done', { app: 'd' }, 'quay.io/cilium/alpine-curl', 'Succeeded', {}, false), metadata: { name: 'done', namespace: 'default', labels: { app: 'd' } } },
    ],
    ceps: 4,
    chart: '1.16.0-cts.1',
  });

describe('cilium status printer', () => {
  it('prints a healthy install as cilium-cli does', async () => {
    const s = await collectStatus(healthySource(), { namespace: 'kube-system' });
    expect(formatStatus(s)).toBe(HEALTHY);
    expect(s.isReady(false)).toBe(true);
  });

  it('prints what is wrong: not-ready pods, a crash-looping agent, a pending operator', async () => {
    const crash = {
      containerStatuses: [
        {
          name: 'cilium-agent',
          image: '',
          imageID: '',
          ready: false,
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, message: 'starting\nlevel=fatal msg="cannot reach the API server"\n' } },
        },
      ],
    };
    const src = new FixedSource({
      daemonSets: [ds(2, 1)],
      deployments: [deploy('cilium-operator', 2, 1)],
      pods: [
        pod('cilium-a1', { 'k8s-app': 'cilium' }, AGENT_IMG, 'Running', running),
        pod('cilium-x7k2p', { 'k8s-app': 'cilium' }, AGENT_IMG, 'Running', crash),
        pod('cilium-operator-1', { name: 'cilium-operator' }, OP_IMG, 'Running'),
        pod('cilium-operator-5c9f', { name: 'cilium-operator' }, OP_IMG, 'Pending', {}, false),
        { ...pod('web-1', { app: 'web' }, 'x', 'Running', {}, false), metadata: { name: 'web-1', namespace: 'default', labels: {} } },
        { ...pod('web-2', { app: 'web' }, 'x', 'Running', {}, false), metadata: { name: 'web-2', namespace: 'default', labels: {} } },
      ],
      ceps: 1,
    });
    const s = await collectStatus(src, { namespace: 'kube-system' });
    expect(formatStatus(s)).toBe(UNHEALTHY);
    expect(s.totalErrors()).toBe(3);
    expect(s.totalWarnings()).toBe(1);
  });

  it('colours like cilium-cli without moving a column', async () => {
    const s = await collectStatus(healthySource(), { namespace: 'kube-system' });
    const coloured = formatStatus(s, { colour: true });
    expect(coloured).toContain('\x1b[32mOK\x1b[0m');
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(HEALTHY);
  });

  it('reports a missing install: no agent DaemonSet is an error, absent Deployments are disabled', async () => {
    const s = await collectStatus(new FixedSource({ daemonSets: [], deployments: [], pods: [], ceps: undefined }), { namespace: 'kube-system' });
    const text = formatStatus(s);
    expect(text).toContain(' /¯¯\\__/¯¯\\    Cilium:             1 errors\n');
    expect(text).toContain(' \\__/¯¯\\__/    Operator:           disabled\n');
    expect(text).toContain('Errors:                cilium    cilium    daemonsets.apps "cilium" not found\n');
    expect(text).toContain('Cluster Pods:          0/0 managed by Cilium\n');
  });

  it('runStatus exits 1 and says why when unhealthy, 0 when healthy; --wait times out with the reasons', async () => {
    const ok = await runStatus(healthySource(), { namespace: 'kube-system', wait: false, waitDurationMs: 0, ignoreWarnings: false, output: 'summary', colour: false, interactive: false });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toBe(HEALTHY);
    expect(ok.stderr).toBe('');
    const bad = new FixedSource({ daemonSets: [ds(2, 1)], deployments: [deploy('cilium-operator', 2, 2)], pods: [], ceps: 0 });
    const r = await runStatus(bad, { namespace: 'kube-system', wait: false, waitDurationMs: 0, ignoreWarnings: false, output: 'summary', colour: false, interactive: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Error: Cilium is not healthy: cilium: 1 pods of DaemonSet cilium are not ready');
    const w = await runStatus(bad, { namespace: 'kube-system', wait: true, waitDurationMs: 300, ignoreWarnings: false, output: 'summary', colour: false, interactive: false, retryIntervalMs: 100 });
    expect(w.exitCode).toBe(1);
    expect(w.stderr).toMatch(/^Error: timeout while waiting for status to become successful \(waited 0s\): cilium: 1 pods of DaemonSet cilium are not ready/);
    const j = await runStatus(healthySource(), { namespace: 'kube-system', wait: false, waitDurationMs: 0, ignoreWarnings: false, output: 'json', colour: false, interactive: false });
    expect(JSON.parse(j.stdout)).toMatchObject({ pod_state: { cilium: { Type: 'DaemonSet', Desired: 2, Ready: 2 } }, pods_count: { all: 4, by_cilium: 4 }, helm_chart_version: '1.16.0-cts.1' });
  });

  it('an unreachable API server is one error line, not one per component', async () => {
    const down: StatusSource = {
      getDaemonSet: () => Promise.reject(new ApiUnreachableError('cannot reach the Kubernetes API server https://127.0.0.1:1: ECONNREFUSED', 'check KUBECONFIG')),
      getDeployment: () => Promise.reject(new Error('not called')),
      listPods: () => Promise.reject(new Error('not called')),
      countCiliumEndpoints: () => Promise.reject(new Error('not called')),
      helmChartVersion: () => Promise.reject(new Error('not called')),
    };
    const r = await runStatus(down, { namespace: 'kube-system', wait: false, waitDurationMs: 0, ignoreWarnings: false, output: 'summary', colour: false, interactive: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('Error: cannot reach the Kubernetes API server https://127.0.0.1:1: ECONNREFUSED\nhint: check KUBECONFIG\n');
  });

  it('ClusterStatus counts errors and warnings per component', () => {
    const s = new ClusterStatus();
    s.addError('cilium', 'cilium-1', 'boom');
    s.addWarning('hubble-relay', 'hubble-relay', 'slow');
    expect([s.totalErrors(), s.totalWarnings(), s.isReady(true), s.isReady(false)]).toEqual([1, 1, false, false]);
  });
});
