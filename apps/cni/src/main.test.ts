/**
 * Black-box tests of the bundled plugin (bin/cilium-cni) for everything that needs no agent: the
 * spec envelope (VERSION, error objects and codes, stdout discipline) and the agent-down paths of
 * ADD, DEL and STATUS. Run as root: the ADD/DEL cases use a throwaway "node" netns and pod netns.
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCniBuilt, runCniSync, type CniRun } from '../../../test/lib/cni-runner.js';
import { addNetns, delNetns, linkNames, sh, uniqueName } from '../../../test/lib/netns.js';
import { hostVethName } from '@cilium-ts/cni';

const NOWHERE = `/tmp/cilium-cni-test-${process.pid}-nonexistent/cilium.sock`;
const conf = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.1.0',
  name: 'cilium',
  type: 'cilium-cni',
  'socket-path': NOWHERE,
  ...over,
});

function expectError(r: CniRun, code: number): Record<string, unknown> {
  expect(r.exitCode, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
  expect(r.json).toBeDefined();
  const j = r.json as Record<string, unknown>;
  expect(j['code']).toBe(code);
  expect(typeof j['msg']).toBe('string');
  expect(typeof j['cniVersion']).toBe('string');
  // stdout is exactly one JSON document and nothing else
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return j;
}

beforeAll(async () => ensureCniBuilt());

describe('VERSION', () => {
  it('prints the supported versions, echoing the requested cniVersion, with only CNI_COMMAND set', () => {
    for (const v of ['1.1.0', '0.3.1', '0.4.0']) {
      const r = runCniSync({ command: 'VERSION', config: { cniVersion: v } });
      expect(r.exitCode).toBe(0);
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    }
  });
});

describe('envelope errors', () => {
  it('malformed stdin gives code 6', () => {
    const r = runCniSync({ command: 'ADD', config: '{"cniVersion": "1.1.0", oops', containerId: 'abc', netns: '/run/netns/none', ifname: 'eth0' });
    const j = expectError(r, 6);
    expect(j['cniVersion']).toBe('1.1.0');
  });

  it('an unknown cniVersion gives code 1 and echoes the version', () => {
    const r = runCniSync({ command: 'ADD', config: conf({ cniVersion: '9.9.9' }), containerId: 'abc', netns: '/run/netns/none', ifname: 'eth0' });
    const j = expectError(r, 1);
    expect(j['cniVersion']).toBe('9.9.9');
    expect(String(j['msg'])).toContain('9.9.9');
  });

  it('a missing CNI_CONTAINERID gives code 4 naming the variable', () => {
    const r = runCniSync({ command: 'ADD', config: conf(), netns: '/run/netns/none', ifname: 'eth0' });
    expect(String(expectError(r, 4)['msg'])).toContain('CNI_CONTAINERID');
  });

  it('a malformed CNI_CONTAINERID gives code 4 naming the variable', () => {
    for (const bad of ['-starts-with-dash', 'has/slash', 'spa ce', '_x']) {
      const r = runCniSync({ command: 'DEL', config: conf(), containerId: bad, ifname: 'eth0' });
      expect(String(expectError(r, 4)['msg'])).toContain('CNI_CONTAINERID');
    }
  });

  it('ADD without CNI_NETNS gives code 4; DEL does not need it', () => {
    const r = runCniSync({ command: 'ADD', config: conf(), containerId: 'abc', ifname: 'eth0' });
    expect(String(expectError(r, 4)['msg'])).toContain('CNI_NETNS');
  });

  it('a bad CNI_COMMAND gives code 4', () => {
    expectError(runCniSync({ command: 'FROB', config: conf() }), 4);
  });

  it('unknown CNI_ARGS keys are refused unless IgnoreUnknown is set', () => {
    const r = runCniSync({ command: 'STATUS', config: conf(), containerId: 'abc', ifname: 'eth0', args: 'FOO=bar' });
    expect(String(expectError(r, 4)['msg'])).toContain('CNI_ARGS');
  });

  it('invalid config values give code 7, unsupported fields code 2 naming key and value', () => {
    expectError(runCniSync({ command: 'STATUS', config: conf({ mtu: 'big' }) }), 7);
    expectError(runCniSync({ command: 'STATUS', config: conf({ name: '-bad' }) }), 7);
    const j = expectError(runCniSync({ command: 'STATUS', config: conf({ ipam: { type: 'host-local' } }) }), 2);
    expect(String(j['msg'])).toContain('ipam.type');
    expect(String(j['msg'])).toContain('host-local');
  });

  it('CHECK with a config older than 0.4.0 gives code 1', () => {
    const r = runCniSync({ command: 'CHECK', config: conf({ cniVersion: '0.3.1', prevResult: {} }), containerId: 'abc', netns: '/run/netns/none', ifname: 'eth0' });
    expect(expectError(r, 1)['cniVersion']).toBe('0.3.1');
  });
});

describe('STATUS', () => {
  it('with no agent gives code 50 naming the socket', () => {
    const j = expectError(runCniSync({ command: 'STATUS', config: conf() }), 50);
    expect(String(j['msg'])).toContain(NOWHERE);
  });
});

describe('agent unreachable (real netns)', () => {
  const node = uniqueName('cniu-node-');
  const pod = uniqueName('cniu-pod-');
  let nodePath = '';
  let podPath = '';
  beforeAll(() => {
    nodePath = addNetns(node);
    podPath = addNetns(pod);
  });
  afterAll(() => {
    delNetns(pod);
    delNetns(node);
  });

  it('ADD gives code 11 naming the socket, with the hint, and creates nothing', () => {
    const cid = uniqueName('ctr');
    const r = runCniSync({ command: 'ADD', config: conf(), containerId: cid, netns: podPath, ifname: 'eth0', nodeNetns: nodePath });
    const j = expectError(r, 11);
    expect(String(j['msg'])).toContain(NOWHERE);
    expect(String(j['msg'])).toContain('is cilium-agent running?');
    expect(linkNames(node)).not.toContain(hostVethName(cid, 'eth0'));
    expect(linkNames(node).filter((n) => n.startsWith('lxc'))).toEqual([]);
    expect(linkNames(pod)).toEqual(['lo']);
  });

  it('ADD into a netns that already has CNI_IFNAME fails (no agent needed to find out)', () => {
    sh('ip', ['-n', pod, 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'eth9p']);
    try {
      const r = runCniSync({ command: 'ADD', config: conf(), containerId: 'ctr1', netns: podPath, ifname: 'eth9', nodeNetns: nodePath });
      expect(String(expectError(r, 101)['msg'])).toContain('eth9');
      expect(linkNames(node).filter((n) => n.startsWith('lxc'))).toEqual([]);
    } finally {
      sh('ip', ['-n', pod, 'link', 'del', 'eth9'], { allowFail: true });
    }
  });

  it('ADD with a CNI_NETNS that does not exist gives code 4 naming CNI_NETNS', () => {
    const r = runCniSync({ command: 'ADD', config: conf(), containerId: 'ctr2', netns: `/run/netns/${uniqueName('nope-')}`, ifname: 'eth0', nodeNetns: nodePath });
    expect(String(expectError(r, 4)['msg'])).toContain('CNI_NETNS');
  });

  it('DEL with nothing present and no agent succeeds with empty stdout, twice', () => {
    for (let i = 0; i < 2; i++) {
      const r = runCniSync({ command: 'DEL', config: conf(), containerId: 'gone', netns: podPath, ifname: 'eth0', nodeNetns: nodePath });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('unreachable'); // logged, not silent
    }
  });

  it('logs go to the netconf log-file, not stderr, and never to stdout', () => {
    const logFile = `/tmp/cilium-cni-test-${process.pid}-${uniqueName('')}.log`;
    try {
      const r = runCniSync({ command: 'DEL', config: conf({ 'log-file': logFile, 'enable-debug': true }), containerId: 'gone', ifname: 'eth0', nodeNetns: nodePath });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('');
      const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => String(l['msg']).includes('unreachable') && l['containerID'] === 'gone')).toBe(true);
    } finally {
      rmSync(logFile, { force: true });
    }
  });

  it('DEL removes a leftover host veth even when the agent is down, and a missing netns is fine', () => {
    const cid = uniqueName('ctr');
    const name = hostVethName(cid, 'eth0');
    sh('ip', ['-n', node, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `p${name.slice(3)}`]);
    const r = runCniSync({ command: 'DEL', config: conf(), containerId: cid, netns: '/run/netns/does-not-exist', ifname: 'eth0', nodeNetns: nodePath });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(linkNames(node)).not.toContain(name);
  });
});
