// "Why was this packet dropped?": a pod that spoofs its source address is dropped by bpf_lxc, and the
// drop shows up as a Hubble flow with its reason and in the datapath's metrics.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DBG_BIN, TestNode, type TestPod } from './lib/node-harness.js';

describe('drops are explained', () => {
  let node: TestNode;
  let a: TestPod;
  let b: TestPod;
  let spoofed: string;

  beforeAll(async () => {
    node = await TestNode.start();
    a = await node.addPod();
    b = await node.addPod();
    // An address of the pod CIDR that IPAM never handed to pod a.
    spoofed = node.podCidr.replace(/\d+\/24$/, '250');
    expect(node.exec(a.netnsPath, 'ip', ['addr', 'add', `${spoofed}/32`, 'dev', a.ifname]).code).toBe(0);
    node.exec(a.netnsPath, 'ping', ['-c', '2', '-W', '1', '-I', spoofed, b.ip]);
    expect(node.exec(a.netnsPath, 'ping', ['-c', '1', '-W', '2', b.ip]).code).toBe(0);
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('reports the drop as a flow with its reason', () => {
    const drops = node.observe(200).map((r) => r['flow'] as Record<string, unknown>).filter((f) => f['verdict'] === 'DROPPED');
    expect(drops.length).toBeGreaterThanOrEqual(1);
    expect(drops[0]).toMatchObject({ drop_reason_desc: 'INVALID_SOURCE_IP', IP: { source: spoofed, destination: b.ip } });
  });

  it('counts it in cilium-dbg bpf metrics list', () => {
    const r = spawnSync(process.execPath, [DBG_BIN, '-H', `unix://${node.socketPath}`, 'bpf', 'metrics', 'list', '-o', 'json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ reason: string; direction: string; packets: number }>;
    expect(rows.find((x) => x.reason === 'Invalid source ip' && x.direction === 'EGRESS')?.packets).toBeGreaterThanOrEqual(2);
    expect(rows.find((x) => x.reason === 'Success')?.packets ?? 0).toBeGreaterThan(0);
  });

});
