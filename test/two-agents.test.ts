// Two agents on one machine, each in its own node netns with its own socket, state dir, bpffs root and
// host device: their pods, endpoints and maps stay apart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestNode, type TestPod } from './lib/node-harness.js';

describe('two agents side by side', () => {
  let a: TestNode;
  let b: TestNode;
  let a1: TestPod, a2: TestPod, b1: TestPod, b2: TestPod;

  beforeAll(async () => {
    [a, b] = await Promise.all([TestNode.start(), TestNode.start()]);
    [a1, a2, b1, b2] = await Promise.all([a.addPod(), a.addPod(), b.addPod(), b.addPod()]);
    await Promise.all([a.startEchoServer(a2.netnsPath, 'tcp', 7100), b.startEchoServer(b2.netnsPath, 'tcp', 7100)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('each node carries its own pod traffic', () => {
    expect(a.echo(a1.netnsPath, 'tcp', a2.ip, 7100, 'node-a').stdout).toBe('node-a');
    expect(b.echo(b1.netnsPath, 'tcp', b2.ip, 7100, 'node-b').stdout).toBe('node-b');
  });

  it('keeps endpoints, maps and conntrack per agent', async () => {
    const ipsOf = async (n: TestNode) => (await n.agent.endpointList()).map((e) => e.status.networking.addressing[0]?.ipv4).sort();
    expect(await ipsOf(a)).toEqual([a1.ip, a2.ip].sort());
    expect(await ipsOf(b)).toEqual([b1.ip, b2.ip].sort());
    const cfgA = await a.agent.config();
    const cfgB = await b.agent.config();
    expect(cfgA.status['bpf-pin-dir']).not.toBe(cfgB.status['bpf-pin-dir']);
    const destinations = (n: TestNode) => n.ctList().map((e) => String(e['destination']));
    expect(destinations(a)).toContain(`${a2.ip}:7100`);
    expect(destinations(a)).not.toContain(`${b2.ip}:7100`);
    expect(destinations(b)).toContain(`${b2.ip}:7100`);
    expect(destinations(b)).not.toContain(`${a2.ip}:7100`);
  });
});
