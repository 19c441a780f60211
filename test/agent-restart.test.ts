// Killing cilium-agent (SIGKILL, as a crash) and starting it again must not break traffic that flows:
// programs stay attached, maps stay pinned, and the restarted agent re-adopts its endpoints and the
// connection-tracking entries.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/cni-runner.js';
import { TestNode, type TestPod } from './lib/node-harness.js';

const STREAM = join(REPO_ROOT, 'test', 'lib', 'tcp-stream.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Progress {
  sent: number;
  received: number;
  done?: boolean;
  error?: string;
}

describe('agent restart under a running TCP stream', () => {
  let node: TestNode;
  let client: TestPod;
  let server: TestPod;

  beforeAll(async () => {
    node = await TestNode.start();
    client = await node.addPod();
    server = await node.addPod();
    await node.startEchoServer(server.netnsPath, 'tcp', 7000);
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('keeps the connection, the endpoints and the conntrack entry', async () => {
    const p = spawn('nsenter', [`--net=${client.netnsPath}`, process.execPath, STREAM, server.ip, '7000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last: Progress = { sent: 0, received: 0 };
    let lineBuf = '';
    p.stdout.on('data', (d: Buffer) => {
      lineBuf += d.toString();
      const lines = lineBuf.split('\n');
      lineBuf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) last = JSON.parse(l) as Progress;
    });
    const exited = new Promise<number>((r) => p.once('exit', (c) => r(c ?? 1)));
    try {
      while (last.received < 50) {
        expect(last.done, `stream ended early: ${JSON.stringify(last)}`).toBeFalsy();
        await sleep(50);
      }
      const epsBefore = (await node.agent.endpointList()).map((e) => [e.id, e.status.networking.addressing[0]?.ipv4]).sort();
      const streamTuple = (e: Record<string, unknown>) => e['source'] === `${client.ip}:${String(e['source']).split(':')[1]}` && e['destination'] === `${server.ip}:7000`;
      const ctBefore = node.ctList().filter(streamTuple);
      expect(ctBefore).toHaveLength(1);

      await node.killAgent('SIGKILL');
      const whileDown = last.received;
      await sleep(1000);
      // The datapath kept forwarding while no agent ran.
      expect(last.received).toBeGreaterThan(whileDown);
      expect(last.done).toBeFalsy();

      await node.restartAgent();
      const afterRestart = last.received;
      await sleep(1000);
      expect(last.received).toBeGreaterThan(afterRestart);

      const epsAfter = (await node.agent.endpointList()).map((e) => [e.id, e.status.networking.addressing[0]?.ipv4]).sort();
      expect(epsAfter).toEqual(epsBefore);
      const ctAfter = node.ctList().filter(streamTuple);
      expect(ctAfter).toHaveLength(1);
      expect(ctAfter[0]!['state']).toBe('established');
      expect(Number(ctAfter[0]!['packets'])).toBeGreaterThan(Number(ctBefore[0]!['packets']));
    } finally {
      p.kill('SIGTERM');
    }
    expect(await exited, `stream result ${JSON.stringify(last)}`).toBe(0);
    expect(last.done).toBe(true);
    expect(last.error).toBeUndefined();
    expect(last.received).toBe(last.sent);
  });

  it('serves new pods after the restart without reusing addresses', async () => {
    const third = await node.addPod();
    expect([client.ip, server.ip]).not.toContain(third.ip);
    const r = node.echo(third.netnsPath, 'tcp', server.ip, 7000, 'after-restart');
    expect(r.stdout).toBe('after-restart');
  });
});

describe('agent restart after DELs it did not see', () => {
  it('forgets endpoints whose veth is gone and frees addresses no endpoint uses', async () => {
    const node = await TestNode.start();
    try {
      const kept = await node.addPod();
      const gone = await node.addPod();
      const leaked = await node.agent.ipamAllocate({ owner: 'crashed-add:eth0' });
      await node.killAgent('SIGKILL');
      // DEL while the agent is down: best effort, removes the veth only.
      const del = await node.delPod(gone);
      expect(del.exitCode).toBe(0);
      await node.restartAgent();
      const eps = await node.agent.endpointList();
      expect(eps.map((e) => e.status.networking.addressing[0]?.ipv4)).toEqual([kept.ip]);
      const st = await node.agent.healthz();
      expect(st.ipam.ipv4).toEqual([kept.ip]);
      expect(st.ipam.ipv4).not.toContain(leaked.address.ipv4);
    } finally {
      await node.stop();
    }
  });
});
