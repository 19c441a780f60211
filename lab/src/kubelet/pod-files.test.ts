import { describe, expect, it } from 'vitest';
import { formatResolvConf, hostNetworkHostsFile, parseResolvConf, podHostsFile, podResolvConf } from './pod-files.js';

const host = parseResolvConf('# lab node\nnameserver 10.96.0.10\nsearch lab.local\noptions edns0\n');

describe('pod resolv.conf', () => {
  it('ClusterFirst: namespace search path, ndots:5, the node nameservers', () => {
    const r = podResolvConf(host, { namespace: 'demo' });
    expect(formatResolvConf(r)).toBe('search demo.svc.cluster.local svc.cluster.local cluster.local lab.local\nnameserver 10.96.0.10\noptions edns0 ndots:5\n');
  });
  it('hostNetwork with ClusterFirst uses the node file; ClusterFirstWithHostNet the cluster one', () => {
    expect(podResolvConf(host, { namespace: 'kube-system', hostNetwork: true })).toEqual(host);
    expect(podResolvConf(host, { namespace: 'kube-system', hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }).searches[0]).toBe('kube-system.svc.cluster.local');
  });
  it('None takes dnsConfig only; dnsConfig merges options', () => {
    const r = podResolvConf(host, { namespace: 'x', dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'], searches: ['a.b'], options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }] } });
    expect(r).toEqual({ nameservers: ['1.2.3.4'], searches: ['a.b'], options: ['ndots:2', 'rotate'] });
    const m = podResolvConf(host, { namespace: 'x', dnsConfig: { options: [{ name: 'ndots', value: '1' }] } });
    expect(m.options).toEqual(['edns0', 'ndots:1']);
  });
});

describe('pod /etc/hosts', () => {
  it('has localhost and the pod IP with its hostname', () => {
    const h = podHostsFile({ podIPs: ['10.0.1.5'], hostname: 'web-0', namespace: 'demo' });
    expect(h.split('\n')).toContain('127.0.0.1\tlocalhost');
    expect(h.split('\n')).toContain('10.0.1.5\tweb-0');
  });
  it('subdomain gives the FQDN first; hostAliases are appended', () => {
    const h = podHostsFile({ podIPs: ['10.0.1.5'], hostname: 'web-0', subdomain: 'web', namespace: 'demo', hostAliases: [{ ip: '10.9.9.9', hostnames: ['foo', 'bar'] }] });
    expect(h).toContain('10.0.1.5\tweb-0.web.demo.svc.cluster.local\tweb-0\n');
    expect(h).toContain('# Entries added by HostAliases.\n10.9.9.9\tfoo\tbar\n');
  });
  it('hostNetwork: the host file plus the node name', () => {
    expect(hostNetworkHostsFile('127.0.0.1 localhost', 'node-1', '172.30.0.2')).toBe('127.0.0.1 localhost\n# Added by the lab kubelet: this node.\n172.30.0.2\tnode-1\n');
  });
});
