import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cgroupLimitFiles, parseQuantity } from './cgroups.js';
import { containerEnv, expandVars, kubernetesServiceEnv } from './container-env.js';
import { launchArgv, launchScript, mapHostPath, shQuote } from './launch.js';
import { probeArgv } from './probes.js';

const node = { cniConfDir: '/lab/n1/cni/net.d', cniBinDir: '/lab/n1/cni/bin', stateDir: '/lab/n1/state' };

describe('hostPath mapping of a lab node', () => {
  it('maps the per-node paths and leaves the host ones alone', () => {
    expect(mapHostPath('/etc/cni/net.d', node)).toBe('/lab/n1/cni/net.d');
    expect(mapHostPath('/opt/cni/bin/', node)).toBe('/lab/n1/cni/bin');
    expect(mapHostPath('/var/run/cilium', node)).toBe('/lab/n1/state/run-cilium');
    expect(mapHostPath('/run/cilium/cgroupv2', node)).toBe('/lab/n1/state/run-cilium/cgroupv2');
    expect(mapHostPath('/sys/fs/bpf', node)).toBe('/lab/n1/state/bpffs');
    expect(mapHostPath('/proc/sys/net', node)).toBeUndefined();
    expect(mapHostPath('/lib/modules', node)).toBeUndefined();
    expect(mapHostPath('/run/xtables.lock', node)).toBe('/lab/n1/state/hostpath/run/xtables.lock');
    expect(mapHostPath('/run/cilium/cgroupv2', { ...node, cgroup2Dir: '/sys/fs/cgroup/unified/lab/n1' })).toBe('/sys/fs/cgroup/unified/lab/n1');
  });
});

describe('container launch', () => {
  it('joins cgroups, mounts parents first, cds and execs the argv', () => {
    const s = launchScript({
      cgroupDirs: ['/sys/fs/cgroup/pids/lab/u/c'],
      mounts: [
        { source: '/s/token', target: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true, file: false },
        { source: '/s/resolv.conf', target: '/etc/resolv.conf', readOnly: false, file: true },
      ],
      workingDir: '/tmp/w d',
    });
    const lines = s.split('\n');
    expect(lines[1]).toBe("echo $$ > '/sys/fs/cgroup/pids/lab/u/c/cgroup.procs'");
    expect(lines.indexOf("mount --bind '/s/resolv.conf' '/etc/resolv.conf'")).toBeLessThan(lines.indexOf("mount --bind '/s/token' '/var/run/secrets/kubernetes.io/serviceaccount'"));
    expect(s).toContain("mount -o remount,bind,ro '/var/run/secrets/kubernetes.io/serviceaccount'");
    expect(lines.at(-2)).toBe("cd '/tmp/w d'");
    expect(lines.at(-1)).toBe('exec "$@"');
    expect(launchArgv({ netnsPath: '/run/netns/p', script: 'x', argv: ['a', 'b'] })).toEqual(['nsenter', '--net=/run/netns/p', '--', 'unshare', '--mount', '--propagation', 'slave', '--', '/bin/sh', '-c', 'x', 'lab-container', 'a', 'b']);
    expect(launchArgv({ netnsPath: undefined, script: 'x', argv: ['a'] })[0]).toBe('unshare');
  });
  it('quotes for sh', () => {
    const r = spawnSync('/bin/sh', ['-c', `printf %s ${shQuote("it's $HOME")}`], { encoding: 'utf8' });
    expect(r.stdout).toBe("it's $HOME");
  });
});

describe('container env', () => {
  const pod = { name: 'p', namespace: 'ns', uid: 'u', labels: { app: 'x' }, annotations: {}, nodeName: 'n1', serviceAccountName: 'sa', podIPs: ['10.0.0.9'], hostIP: '172.30.0.2' };
  const lookup = { configMap: (n: string) => (n === 'cm' ? { A: '1', B: '2' } : undefined), secret: () => undefined };
  it('resolves values, fieldRefs, configMaps and $(VAR)', () => {
    const env = containerEnv(
      {
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'URL', value: 'http://$(IP):8080/$$(NOT)' },
          { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          { name: 'B', valueFrom: { configMapKeyRef: { name: 'cm', key: 'B' } } },
        ],
        resources: { limits: { memory: '64Mi' } },
      },
      pod,
      lookup,
      { PATH: '/bin' },
      { cpu: 2, memory: 1024 },
    );
    expect(env).toMatchObject({ PATH: '/bin', CM_A: '1', NODE: 'n1', IP: '10.0.0.9', HOST: '172.30.0.2', NS: 'ns', APP: 'x', URL: 'http://10.0.0.9:8080/$(NOT)', MEM: '64', B: '2' });
    expect(() => containerEnv({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }, pod, lookup, {}, { cpu: 1, memory: 1 })).toThrow(/configmap "nope" not found/);
    expect(expandVars('$(A)-$(B)', { A: 'a' })).toBe('a-$(B)');
  });
  it('points KUBERNETES_SERVICE_* at the apiserver', () => {
    expect(kubernetesServiceEnv('172.30.0.1', '6443')).toMatchObject({ KUBERNETES_SERVICE_HOST: '172.30.0.1', KUBERNETES_SERVICE_PORT: '6443', KUBERNETES_PORT: 'tcp://172.30.0.1:6443' });
  });
});

describe('cgroup limits and probes', () => {
  it('parses quantities and writes v1 limits', () => {
    expect(parseQuantity('128Mi')).toBe(128 * 1024 * 1024);
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(cgroupLimitFiles({ limits: { memory: '64Mi', cpu: '500m' } })).toEqual([
      { hierarchy: 'memory', file: 'memory.limit_in_bytes', value: String(64 * 1024 * 1024) },
      { hierarchy: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { hierarchy: 'cpu', file: 'cpu.cfs_quota_us', value: '50000' },
      { hierarchy: 'cpu', file: 'cpu.shares', value: '512' },
    ]);
  });
  it('builds probe commands in the pod netns', () => {
    const t = { netnsPath: '/run/netns/p', podIP: '10.0.0.9', pid: 42, env: {}, ports: [{ name: 'http', containerPort: 8080 }] };
    const h = probeArgv({ httpGet: { path: '/healthz', port: 'http' }, timeoutSeconds: 2 }, t) as string[];
    expect(h.slice(0, 3)).toEqual(['nsenter', '--net=/run/netns/p', '--']);
    expect(h.at(-1)).toBe('http://10.0.0.9:8080/healthz');
    expect(probeArgv({ tcpSocket: { port: 53 } }, t)).toEqual(['nsenter', '--net=/run/netns/p', '--', 'timeout', '1', 'bash', '-c', 'exec 3<>/dev/tcp/10.0.0.9/53']);
    expect(probeArgv({ exec: { command: ['cat', '/tmp/ok'] } }, t)).toEqual(['timeout', '1', 'nsenter', '--target=42', '--net', '--mount', '--', 'cat', '/tmp/ok']);
    expect(probeArgv({ httpGet: { port: 'nope' } }, t)).toMatch(/not found/);
  });
});

describe('host mount points', () => {
  it('records the mount points it creates on the host; down of the last lab parses them back', async () => {
    const { parseHostPaths, HOST_PATHS_LOG } = await import('../host-paths.js');
    const s = launchScript({ cgroupDirs: [], mounts: [{ source: '/s/d', target: '/etc/cni/net.d', readOnly: false, file: false }, { source: '/s/f', target: '/etc/x/f.conf', readOnly: false, file: true }] });
    expect(s).toContain(`[ -d '/etc/cni/net.d' ] || mkdir -pv '/etc/cni/net.d' >> '${HOST_PATHS_LOG}'`);
    expect(s).toContain(`echo "created file "'/etc/x/f.conf' >> '${HOST_PATHS_LOG}'`);
    expect(parseHostPaths("mkdir: created directory '/etc/cni'\nmkdir: created directory '/etc/cni/net.d'\ncreated file /etc/x/f.conf\n")).toEqual([
      { path: '/etc/cni', file: false },
      { path: '/etc/cni/net.d', file: false },
      { path: '/etc/x/f.conf', file: true },
    ]);
  });
});
