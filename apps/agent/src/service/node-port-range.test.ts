// protectNodePortRange on a fake /proc tree (the real sysctls are covered by test/services.test.ts in a node
// netns); inRootNetns on this process.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inRootNetns, parsePortList, protectNodePortRange } from './node-port-range.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function fakeProc(range: string, reserved: string): string {
  const d = mkdtempSync(join(tmpdir(), 'cilium-ts-npr-'));
  dirs.push(d);
  mkdirSync(join(d, 'sys/net/ipv4'), { recursive: true });
  writeFileSync(join(d, 'sys/net/ipv4/ip_local_port_range'), `${range}\n`);
  writeFileSync(join(d, 'sys/net/ipv4/ip_local_reserved_ports'), `${reserved}\n`);
  return d;
}
const reservedOf = (d: string) => readFileSync(join(d, 'sys/net/ipv4/ip_local_reserved_ports'), 'utf8').trim();

describe('NodePort range vs ephemeral ports', () => {
  it('no overlap (Linux default 32768-60999 vs 30000-32767): nothing written', () => {
    const d = fakeProc('32768\t60999', '');
    expect(protectNodePortRange(30000, 32767, { proc: d, rootNetns: false })).toEqual({ ephemeral: [32768, 60999], reservedPorts: '' });
    expect(reservedOf(d)).toBe('');
  });

  it('overlap: the NodePort range is appended to what is reserved, once', () => {
    const d = fakeProc('20000\t60999', '8080,9000-9100');
    expect(protectNodePortRange(30000, 32767, { proc: d, rootNetns: false })).toMatchObject({ reserved: '30000-32767', reservedPorts: '8080,9000-9100,30000-32767' });
    expect(protectNodePortRange(30000, 32767, { proc: d, rootNetns: false }).reserved).toBeUndefined();
    expect(reservedOf(d)).toBe('8080,9000-9100,30000-32767');
  });

  it('overlap in the root netns: nothing written, and it says why', () => {
    const d = fakeProc('20000\t60999', '');
    expect(protectNodePortRange(30000, 32767, { proc: d, rootNetns: true }).skipped).toMatch(/root network namespace/);
    expect(reservedOf(d)).toBe('');
  });

  it('parses port lists; knows this process netns', () => {
    expect(parsePortList('1-3, 7,10-12')).toEqual([[1, 3], [7, 7], [10, 12]]);
    expect(typeof inRootNetns()).toBe('boolean');
  });
});
