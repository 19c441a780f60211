/**
 * Test-side helpers for network namespaces and kernel state, observed with iproute2 (independent of
 * our own netlink code, so the tests check the kernel and not our reading of it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

export function sh(cmd: string, args: string[], opts: { netns?: string; allowFail?: boolean; input?: string } = {}): string {
  const [c, a] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, args];
  const r = spawnSync(c, a, { encoding: 'utf8', input: opts.input ?? '', timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${c} ${a.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** `ip -j <args>` (optionally `-n <netns>`), parsed. */
export function ipJson<T = Array<Record<string, unknown>>>(args: string[], netns?: string): T {
  const out = execFileSync('ip', [...(netns ? ['-n', netns] : []), '-j', ...args], { encoding: 'utf8' });
  return (out.trim() === '' ? [] : JSON.parse(out)) as T;
}

export function addNetns(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return `/run/netns/${name}`;
}

export function delNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}

export function linkNames(netns?: string): string[] {
  return ipJson<Array<{ ifname: string }>>(['link', 'show'], netns).map((l) => l.ifname);
}

export function ipv4Addrs(ifname: string, netns?: string): string[] {
  const r = ipJson<Array<{ addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>>(['addr', 'show', 'dev', ifname], netns);
  return (r[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}
