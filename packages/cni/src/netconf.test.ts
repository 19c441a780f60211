import { describe, expect, it } from 'vitest';
import { parseCniArgs, parseEnv } from './cni-env.js';
import { CniError } from './cni-error.js';
import { hostVethName } from './host-veth-name.js';
import { decodeStdin, parseNetConf } from './netconf.js';

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.cniCode : -1;
  }
  return undefined;
};

describe('parseNetConf', () => {
  const base = { cniVersion: '1.0.0', name: 'cilium', type: 'cilium-cni' };
  it('fills the defaults', () => {
    const c = parseNetConf(base, 'ADD');
    expect(c).toMatchObject({ socketPath: '/var/run/cilium/cilium.sock', mtu: 1500, enableDebug: false, logFile: undefined });
  });
  it('accepts every supported version and rejects others with code 1', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) expect(parseNetConf({ ...base, cniVersion: v }, 'ADD').cniVersion).toBe(v);
    for (const v of ['0.1.0', '0.2.0', '1.2.0', '2.0.0']) expect(code(() => parseNetConf({ ...base, cniVersion: v }, 'ADD'))).toBe(1);
  });
  it('refuses what it cannot honour (2) and malformed values (7)', () => {
    expect(code(() => parseNetConf({ ...base, ipam: { type: 'host-local' } }, 'ADD'))).toBe(2);
    expect(code(() => parseNetConf({ ...base, 'chaining-mode': 'aws-cni' }, 'ADD'))).toBe(2);
    expect(code(() => parseNetConf({ ...base, mtu: 10 }, 'ADD'))).toBe(7);
    expect(code(() => parseNetConf({ ...base, 'socket-path': 3 }, 'ADD'))).toBe(7);
    expect(code(() => parseNetConf({ ...base, 'enable-debug': 'yes' }, 'ADD'))).toBe(7);
    expect(code(() => parseNetConf({ ...base, name: 'a b' }, 'ADD'))).toBe(7);
    expect(code(() => parseNetConf({ ...base, type: undefined }, 'ADD'))).toBe(7);
    expect(code(() => parseNetConf({ ...base, 'cni.dev/valid-attachments': [{ containerID: 1 }] }, 'GC'))).toBe(7);
  });
  it('reads GC attachments under both spellings', () => {
    const a = [{ containerID: 'c1', ifname: 'eth0' }];
    expect(parseNetConf({ ...base, 'cni.dev/valid-attachments': a }, 'GC').validAttachments).toEqual(a);
    expect(parseNetConf({ ...base, 'cni.dev/attachments': a }, 'GC').validAttachments).toEqual(a);
  });
  it('decodeStdin gives code 6 for empty, broken and non-object input', () => {
    for (const s of ['', '  ', '{', '[1]', '"x"', 'null']) expect(code(() => decodeStdin(s))).toBe(6);
  });
});

describe('parseEnv / CNI_ARGS', () => {
  it('names every missing variable', () => {
    try {
      parseEnv('ADD', { CNI_COMMAND: 'ADD' });
      expect.unreachable();
    } catch (e) {
      expect((e as CniError).cniCode).toBe(4);
      expect((e as CniError).message).toContain('CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME');
    }
  });
  it('checks container id (P4) and interface name', () => {
    expect(code(() => parseEnv('DEL', { CNI_CONTAINERID: 'a.b-c_d9', CNI_IFNAME: 'eth0' }))).toBeUndefined();
    expect(code(() => parseEnv('DEL', { CNI_CONTAINERID: '.abc', CNI_IFNAME: 'eth0' }))).toBe(4);
    expect(code(() => parseEnv('DEL', { CNI_CONTAINERID: 'abc', CNI_IFNAME: 'a-very-long-ifname' }))).toBe(4);
    expect(code(() => parseEnv('DEL', { CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth/0' }))).toBe(4);
  });
  it('parses K8S_* args, refuses unknown keys without IgnoreUnknown', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;FOO=bar')).toMatchObject({ k8sPodNamespace: 'ns', k8sPodName: 'p', ignoreUnknown: true });
    expect(code(() => parseCniArgs('FOO=bar'))).toBe(4);
    expect(code(() => parseCniArgs('novalue'))).toBe(4);
  });
});

describe('hostVethName', () => {
  it('is lxc + 12 hex of sha256(containerId:ifname), 15 characters', () => {
    // computed independently: `printf abc:eth0 | sha256sum` = b133159de544...
    const n = hostVethName('abc', 'eth0');
    expect(n).toBe('lxcb133159de544');
    expect(n).not.toBe(hostVethName('abc', 'eth1'));
  });
});
