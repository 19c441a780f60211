import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cniArgs, cniConfFiles, cniEnv, cniFailure, loadCniNetwork, parseCniConf, pluginStdin, resultPodIps } from './cni.js';

const dir = mkdtempSync(join(tmpdir(), 'kubelet-cni-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pod = { namespace: 'demo', name: 'web', uid: 'u-1', sandboxId: 'a'.repeat(64), netnsPath: '/run/netns/lab-aaaa' };

describe('CNI as containerd calls it', () => {
  it('reports no network while the dir has no config, then takes the first file in lexical order', () => {
    expect(loadCniNetwork(join(dir, 'absent'))).toEqual({ network: undefined, error: undefined });
    writeFileSync(join(dir, 'README'), 'not a config');
    expect(loadCniNetwork(dir).network).toBeUndefined();
    writeFileSync(join(dir, '20-b.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'b', type: 'bridge' }));
    writeFileSync(join(dir, '05-cilium.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'cilium', plugins: [{ type: 'cilium-cni' }, { type: 'portmap', capabilities: { portMappings: true } }] }));
    expect(cniConfFiles(dir).map((f) => f.slice(dir.length + 1))).toEqual(['05-cilium.conflist', '20-b.conf']);
    const n = loadCniNetwork(dir).network!;
    expect(n.name).toBe('cilium');
    expect(n.plugins.map((p) => p.type)).toEqual(['cilium-cni', 'portmap']);
  });

  it('a .conf is a list of one; a bad file is an error with its name', () => {
    const l = parseCniConf('/x/10-b.conf', JSON.stringify({ cniVersion: '0.3.1', name: 'b', type: 'bridge', bridge: 'br0' }));
    expect(l.plugins).toEqual([{ cniVersion: '0.3.1', name: 'b', type: 'bridge', bridge: 'br0' }]);
    expect(() => parseCniConf('/x/1.conflist', '{"name":"x","plugins":[]}')).toThrow(/1.conflist/);
    expect(() => parseCniConf('/x/1.conf', '{')).toThrow(/not JSON/);
  });

  it('sets the CNI_* environment and K8S_* args of containerd', () => {
    expect(cniArgs(pod)).toBe(`IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${'a'.repeat(64)};K8S_POD_UID=u-1`);
    expect(cniEnv('ADD', pod, '/opt/cni/bin', '/usr/bin')).toEqual({
      PATH: '/usr/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a'.repeat(64), CNI_NETNS: '/run/netns/lab-aaaa', CNI_IFNAME: 'eth0', CNI_ARGS: cniArgs(pod), CNI_PATH: '/opt/cni/bin',
    });
  });

  it('injects name/cniVersion, declared capabilities only, and chains prevResult', () => {
    const list = parseCniConf('/x/a.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'ptp', ipam: { type: 'host-local' } }, { type: 'portmap', capabilities: { portMappings: true } }] }));
    const caps = { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }], cgroupPath: '/x' };
    const first = pluginStdin(list, list.plugins[0]!, { command: 'ADD', capabilityArgs: caps });
    expect(first).toEqual({ type: 'ptp', ipam: { type: 'host-local' }, name: 'net', cniVersion: '1.0.0' });
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] };
    const second = pluginStdin(list, list.plugins[1]!, { command: 'ADD', prevResult: prev, capabilityArgs: caps });
    expect(second['runtimeConfig']).toEqual({ portMappings: caps.portMappings });
    expect(second['prevResult']).toEqual(prev);
    // DEL carries the cached result from 0.4.0 on, not before.
    expect(pluginStdin(list, list.plugins[0]!, { command: 'DEL', prevResult: prev })['prevResult']).toEqual(prev);
    const old = parseCniConf('/x/o.conf', JSON.stringify({ cniVersion: '0.3.1', name: 'o', type: 'bridge' }));
    expect(pluginStdin(old, old.plugins[0]!, { command: 'DEL', prevResult: prev })['prevResult']).toBeUndefined();
  });

  it('reads pod IPs from the sandbox interface, IPv4 first', () => {
    const r = {
      interfaces: [{ name: 'lxc1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ address: 'fd00::5/128', interface: 1 }, { address: '10.0.0.5/32', interface: 1 }, { address: '10.9.9.9/32', interface: 0 }],
    };
    expect(resultPodIps(r)).toEqual(['10.0.0.5', 'fd00::5']);
    expect(resultPodIps({ ips: [{ address: '10.0.0.7/24' }] })).toEqual(['10.0.0.7']);
  });

  it('shows the plugin error document', () => {
    expect(cniFailure({ plugin: 'ptp', command: 'ADD', exitCode: 1, stdout: '{"code":7,"msg":"bad config","details":"x"}', stderr: '' })).toBe('plugin type="ptp" failed (add): bad config: x (code 7)');
    expect(cniFailure({ plugin: 'ptp', command: 'DEL', exitCode: 2, stdout: '', stderr: 'boom\n' })).toBe('plugin type="ptp" failed (del): boom');
  });
});
