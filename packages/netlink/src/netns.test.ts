// Real kernel: named netns made like `ip netns add`, entered and left on this thread.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, listNetns, netnsPath } from './named-netns.js';
import { NetlinkError } from './netlink-error.js';
import { closeNetns, netnsInode, openNetns, withNetns } from './netns.js';
import { sysctlInNetns } from './sysctl.js';

const suffix = randomBytes(3).toString('hex');
const made: string[] = [];
function makeNetns(tag: string): string {
  const name = `nlt-${tag}-${suffix}`;
  createNetns(name);
  made.push(name);
  return name;
}
const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

afterAll(() => {
  for (const n of made) deleteNetns(n);
});

describe('createNetns / deleteNetns', () => {
  it('creates a netns that `ip netns` lists and can exec in', () => {
    const name = makeNetns('a');
    expect(existsSync(netnsPath(name))).toBe(true);
    expect(listNetns()).toContain(name);
    const listed = JSON.parse(ip('-j', 'netns', 'list')) as Array<{ name: string }>;
    expect(listed.map((x) => x.name)).toContain(name);
    // A fresh netns holds only lo, and it is down.
    const links = JSON.parse(ip('-n', name, '-j', 'link', 'show')) as Array<{ ifname: string; flags: string[] }>;
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    const out = execFileSync('ip', ['netns', 'exec', name, 'cat', '/proc/net/dev'], { encoding: 'utf8' });
    expect(out).toMatch(/\blo:/);
    expect(out).not.toMatch(/\beth0:/);
    // It is a different netns from ours.
    expect(netnsInode(netnsPath(name))).not.toBe(netnsInode());
  });

  it('refuses a duplicate name with NETLINK_EEXIST and a bad name before touching anything', () => {
    const name = makeNetns('dup');
    const err = catchErr(() => createNetns(name));
    expect(err.code).toBe('NETLINK_EEXIST');
    expect(err.errno).toBe(17);
    expect(err.hint).not.toBe('');
    expect(catchErr(() => createNetns('a/b')).code).toBe('NETLINK_INVALID_ARGUMENT');
    // The first one still works.
    expect(JSON.parse(ip('-n', name, '-j', 'link', 'show'))).toHaveLength(1);
  });

  it('deletes: the file goes, `ip netns` forgets it, a second delete returns false', () => {
    const name = `nlt-del-${suffix}`;
    createNetns(name);
    expect(deleteNetns(name)).toBe(true);
    expect(existsSync(netnsPath(name))).toBe(false);
    const listed = JSON.parse(ip('-j', 'netns', 'list') || '[]') as Array<{ name: string }>;
    expect(listed.map((x) => x.name)).not.toContain(name);
    expect(deleteNetns(name)).toBe(false);
  });
});

describe('withNetns', () => {
  it('runs inside the netns and comes back, by path and by fd', () => {
    const name = makeNetns('with');
    const path = netnsPath(name);
    const home = netnsInode();
    const target = netnsInode(path);
    expect(withNetns(path, () => netnsInode())).toBe(target);
    expect(netnsInode()).toBe(home);
    const fd = openNetns(path);
    try {
      expect(withNetns(fd, () => netnsInode())).toBe(target);
      expect(netnsInode()).toBe(home);
      // the caller's fd stays open
      expect(netnsInode(fd)).toBe(target);
    } finally {
      closeNetns(fd);
    }
  });

  it('restores the original netns when fn throws', () => {
    const name = makeNetns('throw');
    const home = netnsInode();
    expect(() =>
      withNetns(netnsPath(name), () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(netnsInode()).toBe(home);
  });

  it('rejects an async callback (its async part would run outside the netns)', () => {
    const name = makeNetns('async');
    const home = netnsInode();
    const err = catchErr(() => withNetns(netnsPath(name), async () => 1));
    expect(err.code).toBe('NETLINK_ASYNC_IN_NETNS');
    expect(netnsInode()).toBe(home);
  });

  it('reports a missing netns path as NETLINK_ENOENT', () => {
    const err = catchErr(() => withNetns(`/run/netns/nlt-missing-${suffix}`, () => 1));
    expect(err.code).toBe('NETLINK_ENOENT');
    expect(err.errno).toBe(2);
    expect(err.message).toContain(`nlt-missing-${suffix}`);
  });
});

describe('sysctlInNetns', () => {
  it('writes and reads /proc/sys inside the netns only', () => {
    const name = makeNetns('sysctl');
    const path = netnsPath(name);
    const hostValue = execFileSync('sysctl', ['-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' }).trim();
    expect(sysctlInNetns(path, 'net.ipv4.ip_forward', 1)).toBe('1');
    expect(execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' }).trim()).toBe('1');
    expect(execFileSync('sysctl', ['-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' }).trim()).toBe(hostValue);
    // Slash form, needed for interface names with dots; read without writing.
    expect(sysctlInNetns(path, 'net/ipv6/conf/lo/disable_ipv6', '1')).toBe('1');
    expect(sysctlInNetns(path, 'net.ipv6.conf.lo.disable_ipv6')).toBe('1');
    expect(execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-n', 'net.ipv6.conf.lo.disable_ipv6'], { encoding: 'utf8' }).trim()).toBe('1');
    const err = catchErr(() => sysctlInNetns(path, 'net.ipv4.conf.nosuchdev.forwarding', 1));
    expect(err.code).toBe('NETLINK_ENOENT');
  });
});

function catchErr(fn: () => unknown): NetlinkError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetlinkError) return e;
    throw e;
  }
  throw new Error('expected a NetlinkError');
}
