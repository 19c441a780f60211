import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from '../config.js';
import { configMapToSettings, readConfigDir } from './config-dir.js';

const root = mkdtempSync(join(tmpdir(), 'agent-config-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A directory laid out as the kubelet projects a ConfigMap: ..data -> ..<ts>/ with key symlinks. */
function configMapDir(data: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'cm-'));
  const ts = join(dir, '..2026_11_25_00_00_00.1');
  mkdirSync(ts);
  for (const [k, v] of Object.entries(data)) writeFileSync(join(ts, k), v);
  symlinkSync('..2026_11_25_00_00_00.1', join(dir, '..data'));
  for (const k of Object.keys(data)) symlinkSync(join('..data', k), join(dir, k));
  return dir;
}

const noK8sEnv = {};

describe('--config-dir (the cilium-config ConfigMap)', () => {
  it('reads one file per key through the ConfigMap symlinks, skipping ..data', () => {
    const dir = configMapDir({ 'routing-mode': 'native\n', 'enable-hubble': 'true' });
    expect(readConfigDir(dir)).toEqual({ 'enable-hubble': 'true', 'routing-mode': 'native' });
  });

  it("maps the chart's keys onto agent settings", () => {
    const r = configMapToSettings({
      'routing-mode': 'tunnel',
      'tunnel-protocol': 'vxlan',
      ipam: 'cluster-pool',
      'cluster-pool-ipv4-cidr': '10.244.0.0/16 10.245.0.0/16',
      'cluster-pool-ipv4-mask-size': '24',
      'kube-proxy-replacement': 'strict',
      'enable-hubble': 'false',
      'hubble-socket-path': '/var/run/cilium/hubble.sock',
      'monitor-aggregation': 'maximum',
      'agent-health-port': '9879',
      debug: 'true',
      'enable-ipv4': 'true',
      'enable-ipv6': 'false',
      'identity-allocation-mode': 'crd',
      'some-future-key': 'x',
    });
    expect(r.settings).toEqual({
      routingMode: 'tunnel',
      tunnelProtocol: 'vxlan',
      ipamMode: 'cluster-pool',
      clusterPoolIpv4Cidr: ['10.244.0.0/16', '10.245.0.0/16'],
      clusterPoolIpv4MaskSize: 24,
      kubeProxyReplacement: 'strict',
      enableHubble: false,
      hubbleSocketPath: '/var/run/cilium/hubble.sock',
      monitorAggregation: 'medium',
      agentHealthPort: 9879,
      logLevel: 'debug',
    });
    expect(r.unknown).toEqual(['some-future-key']);
    expect(r.ignored).toEqual(['identity-allocation-mode']);
  });

  it('maps the kube-proxy replacement keys (partial sub-features, LB algorithm and mode, NodePort range, cgroup root)', () => {
    const r = configMapToSettings({
      'kube-proxy-replacement': 'partial',
      'enable-node-port': 'true',
      'enable-host-port': 'false',
      'enable-external-ips': 'true',
      'enable-host-reachable-services': 'false',
      'host-reachable-services-protos': 'tcp,udp',
      'bpf-lb-sock': 'false',
      'bpf-lb-algorithm': 'maglev',
      'bpf-lb-mode': 'hybrid',
      'node-port-range': '30000,32000',
      'cgroup-root': '/run/cilium/cgroupv2',
      'bpf-lb-maglev-table-size': '16381',
      'enable-ipv4-fragment-tracking': 'false',
    });
    expect(r.settings).toEqual({
      kubeProxyReplacement: 'partial',
      enableNodePort: true,
      enableHostPort: false,
      enableExternalIps: true,
      enableHostReachableServices: false,
      bpfLbSock: false,
      bpfLbAlgorithm: 'maglev',
      bpfLbMode: 'hybrid',
      nodePortRange: '30000-32000',
      cgroupRoot: '/run/cilium/cgroupv2',
      enableIpv4FragmentTracking: false,
    });
    expect(r.unknown).toEqual([]);
    expect(() => configMapToSettings({ 'bpf-lb-algorithm': 'roundrobin' })).toThrowError(/"bpf-lb-algorithm".*random or maglev/);
    expect(() => configMapToSettings({ 'bpf-lb-mode': 'tunnel' })).toThrowError(/"bpf-lb-mode".*snat, dsr or hybrid/);
    expect(() => configMapToSettings({ 'node-port-range': '32767-30000' })).toThrowError(/"node-port-range"/);
    expect(() => configMapToSettings({ 'bpf-lb-maglev-table-size': '65521' })).toThrowError(/16381/);
  });

  it('maps the 1.10 tunnel key (disabled -> native, vxlan -> tunnel); routing-mode wins when both are there', () => {
    expect(configMapToSettings({ tunnel: 'disabled' }).settings).toEqual({ routingMode: 'native' });
    expect(configMapToSettings({ tunnel: 'vxlan' }).settings).toEqual({ routingMode: 'tunnel', tunnelProtocol: 'vxlan' });
    expect(configMapToSettings({ tunnel: 'disabled', 'routing-mode': 'tunnel' }).settings).toEqual({ routingMode: 'tunnel' });
    // geneve in native mode is never used: accepted
    expect(configMapToSettings({ 'routing-mode': 'native', 'tunnel-protocol': 'geneve' }).settings).toEqual({ routingMode: 'native' });
  });

  it('refuses invalid values, naming the key', () => {
    expect(() => configMapToSettings({ 'kube-proxy-replacement': 'maybe' })).toThrowError(/"kube-proxy-replacement".*true, false, strict, probe, partial, disabled/);
    expect(() => configMapToSettings({ 'routing-mode': 'bgp' })).toThrowError(/"routing-mode"/);
    expect(() => configMapToSettings({ 'agent-health-port': 'ninety' })).toThrowError(/"agent-health-port"/);
    expect(() => configMapToSettings({ 'enable-hubble': 'yes' })).toThrowError(/"enable-hubble".*true or false/);
    expect(() => configMapToSettings({ 'tunnel-protocol': 'geneve' })).toThrowError(/"tunnel-protocol" is geneve: this kernel has no geneve/);
    expect(() => configMapToSettings({ 'enable-ipv6': 'true' })).toThrowError(/"enable-ipv6"/);
    expect(() => configMapToSettings({ 'cluster-pool-ipv4-cidr': '10.0.0.0/33' })).toThrowError(/"cluster-pool-ipv4-cidr"/);
  });

  it('precedence: flags > config dir > config file > defaults', () => {
    const dir = configMapDir({ 'routing-mode': 'native', 'kube-proxy-replacement': 'true', 'agent-health-port': '19879', 'socket-path': '/tmp/dir.sock' });
    const file = join(root, 'agent.yaml');
    writeFileSync(file, 'routing-mode: tunnel\nsocket-path: /tmp/file.sock\nstate-dir: /tmp/file-state\npod-cidr: 10.9.0.0/24\n');
    const c = loadAgentConfig({ socketPath: '/tmp/flag.sock' }, file, { configDir: dir, env: noK8sEnv });
    expect(c.socketPath).toBe('/tmp/flag.sock'); // flag
    expect(c.routingMode).toBe('native'); // dir over file
    expect(c.kubeProxyReplacement).toBe('true');
    expect(c.agentHealthPort).toBe(19879);
    expect(c.stateDir).toBe('/tmp/file-state'); // file
    expect(c.bpfRoot).toBe('/sys/fs/bpf'); // default
    expect(c.k8sMode).toBe(false); // a pod CIDR and no cluster
    const d = loadAgentConfig({ podCidr: '10.9.0.0/24' }, undefined, { env: noK8sEnv });
    expect(d.agentHealthPort).toBe(9879);
    expect(d.kubeProxyReplacement).toBe('false');
    expect(d.enableHubble).toBe(true);
  });

  it('a bad value in the config dir is a ConfigError naming the key', () => {
    const dir = configMapDir({ 'kube-proxy-replacement': 'sometimes' });
    expect(() => loadAgentConfig({ podCidr: '10.9.0.0/24' }, undefined, { configDir: dir, env: noK8sEnv })).toThrowError(ConfigError);
    expect(() => loadAgentConfig({ podCidr: '10.9.0.0/24' }, undefined, { configDir: dir, env: noK8sEnv })).toThrowError(/kube-proxy-replacement/);
    expect(() => loadAgentConfig({}, undefined, { configDir: join(root, 'nope'), env: noK8sEnv })).toThrowError(/config dir .* does not exist/);
  });

  it('Kubernetes mode: K8S_NODE_NAME / CILIUM_K8S_NAMESPACE, in-cluster or kubeconfig; --pod-cidr alone keeps the old mode', () => {
    const token = join(root, 'token');
    writeFileSync(token, 'x');
    const inCluster = { KUBERNETES_SERVICE_HOST: '172.30.1.2', KUBERNETES_SERVICE_PORT: '6443', K8S_NODE_NAME: 'node7', CILIUM_K8S_NAMESPACE: 'cilium' };
    const c = loadAgentConfig({}, undefined, { env: inCluster, serviceAccountTokenPath: token });
    expect(c).toMatchObject({ k8sMode: true, nodeName: 'node7', k8sNamespace: 'cilium' });
    expect(c.podCidr).toBeUndefined();
    expect(loadAgentConfig({ podCidr: '10.1.0.0/24' }, undefined, { env: inCluster, serviceAccountTokenPath: token }).k8sMode).toBe(false);
    expect(loadAgentConfig({ podCidr: '10.1.0.0/24', k8sMode: true }, undefined, { env: inCluster, serviceAccountTokenPath: token }).k8sMode).toBe(true);
    expect(loadAgentConfig({}, undefined, { env: { KUBECONFIG: '/x' } }).k8sMode).toBe(true);
    expect(loadAgentConfig({ k8sKubeconfigPath: '/x', podCidr: '10.1.0.0/24' }, undefined, { env: {} }).k8sMode).toBe(true);
    // no token: not in-cluster
    expect(() => loadAgentConfig({}, undefined, { env: inCluster, serviceAccountTokenPath: join(root, 'missing') })).toThrowError(/podCidr: required outside Kubernetes mode/);
  });
});
