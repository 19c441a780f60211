// Masquerading rules, installed for real with iptables in a network namespace this file creates.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withNetns } from '@cilium-ts/netlink';
import { installMasquerade, masqueradeRules } from './masquerade.js';

const ns = `ctsmasq${randomBytes(3).toString('hex')}`;
const save = (): string => execFileSync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' });

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
});
afterAll(() => {
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('masquerade', () => {
  it('renders the chain: no masquerade inside the cluster, masquerade the rest unless it stays on our devices', () => {
    expect(masqueradeRules({ podCidr: '10.244.1.0/24', exclude: ['10.244.0.0/16'] }).split('\n')).toEqual([
      '*nat',
      ':CILIUM_POST_nat - [0:0]',
      '-F CILIUM_POST_nat',
      '-A CILIUM_POST_nat -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "cilium: no masquerade inside the cluster" -j RETURN',
      '-A CILIUM_POST_nat -m mark --mark 0xa00/0xf00 -m comment --comment "cilium: replies are not masqueraded" -j RETURN',
      '-A CILIUM_POST_nat -s 10.244.1.0/24 ! -o cilium_+ -m comment --comment "cilium masquerade non-cluster" -j MASQUERADE',
      'COMMIT',
      '',
    ]);
  });

  it('installs the rules in the netns, idempotently (one jump, the chain rewritten)', () => {
    const nsPath = `/run/netns/${ns}`;
    withNetns(nsPath, () => installMasquerade({ podCidr: '10.244.1.0/24', exclude: ['10.244.0.0/16'] }));
    withNetns(nsPath, () => installMasquerade({ podCidr: '10.244.1.0/24', exclude: ['10.250.0.0/16'] }));
    const out = save();
    expect(out.match(/-A POSTROUTING .*-j CILIUM_POST_nat/g)).toHaveLength(1);
    expect(out).toContain('-A CILIUM_POST_nat -s 10.244.1.0/24 -d 10.250.0.0/16');
    expect(out).not.toContain('10.244.0.0/16');
    expect(out).toContain('-A CILIUM_POST_nat -m mark --mark 0xa00/0xf00');
    expect(out).toMatch(/-A CILIUM_POST_nat -s 10\.244\.1\.0\/24 ! -o cilium_\+ .*-j MASQUERADE/);
    // nothing of it in the test's own netns
    expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toContain('CILIUM_POST_nat -s 10.244.1.0/24 -d 10.250.0.0/16');
  });
});
