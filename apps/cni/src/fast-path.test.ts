/**
 * The fast path for real: bin/cilium-cni (native) forwards to a running bin/cilium-agent, which runs
 * the plugin logic in-process (POST /v1/cni). Checked from the outside: the agent logs each call it
 * serves at debug level ("CNI request served", with a running count) and the plugin's own log lines
 * say `via`.
 */
import { request } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCniBuilt, runCni } from '../../../test/lib/cni-runner.js';
import { TestNode } from '../../../test/lib/node-harness.js';

let node: TestNode;

beforeAll(async () => {
  await ensureCniBuilt();
  node = await TestNode.start({ agentArgs: ['--log-level', 'debug'] });
});
afterAll(async () => {
  await node?.stop();
});

/** The agent's "CNI request served" log lines. */
function served(): Array<Record<string, unknown>> {
  return readFileSync(node.agentLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'CNI request served');
}

function readLog(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('fast path: the agent runs the plugin', () => {
  it('an ADD and its DEL are served by the agent, and the plugin logs say via=agent', async () => {
    const before = served().length;
    const logFile = join(node.tmpDir, 'fast-cni.log');
    const ns = node.newPodNetns();
    const pod = { containerId: `fast${Date.now()}`, ifname: 'eth0', netnsPath: ns.netnsPath };
    const add = await node.cni('ADD', pod, { config: { 'log-file': logFile } });
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    expect(add.stderr).toBe('');
    const after = served();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ cniCommand: 'ADD', containerID: pod.containerId, ifname: 'eth0', exitCode: 0 });
    const lines = readLog(logFile);
    expect(lines.some((l) => l['msg'] === 'endpoint created' && l['via'] === 'agent')).toBe(true);
    expect(lines.every((l) => l['via'] === 'agent')).toBe(true);
    expect(await node.agent.endpointGet(`container-id:${pod.containerId}`)).toBeDefined();

    const del = await node.cni('DEL', pod, { config: { 'log-file': logFile }, prevResult: add.json ?? {} });
    expect(del.exitCode, del.stdout).toBe(0);
    expect(del.stdout).toBe('');
    expect(served().at(-1)).toMatchObject({ cniCommand: 'DEL', containerID: pod.containerId, exitCode: 0 });
    expect(await node.agent.endpointGet(`container-id:${pod.containerId}`)).toBeUndefined();
    rmSync(logFile, { force: true });
  });

  it('malformed stdin through the fast path gives code 6, answered by the agent', async () => {
    const before = served().length;
    const config = `{"cniVersion": "1.0.0", "socket-path": ${JSON.stringify(node.socketPath)}, oops`;
    const r = await runCni({ command: 'ADD', config, containerId: 'bad1', netns: '/run/netns/none', ifname: 'eth0', nodeNetns: node.netnsPath });
    expect(r.exitCode).toBe(1);
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 6 }); // a broken document has no readable version: the latest
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const s = served();
    expect(s).toHaveLength(before + 1);
    expect(s.at(-1)).toMatchObject({ cniCommand: 'ADD', containerID: 'bad1', exitCode: 1, cniCode: 6 });
  });

  it('spec errors come from the same code on both paths (VERSION, code 4), byte for byte', async () => {
    const cases = [
      { command: 'VERSION', config: node.cniConfig({ cniVersion: '0.3.1' }) },
      { command: 'ADD', config: node.cniConfig(), containerId: '-bad', netns: '/x', ifname: 'eth0' },
      { command: 'FROB', config: node.cniConfig() },
    ];
    for (const c of cases) {
      const before = served().length;
      const fast = await runCni({ ...c, nodeNetns: node.netnsPath });
      expect(served()).toHaveLength(before + 1);
      // The same invocation from another netns than the agent's is declined, so it runs standalone.
      const standalone = await runCni(c);
      expect(served()).toHaveLength(before + 1);
      expect(fast.stdout).toBe(standalone.stdout);
      expect(fast.exitCode).toBe(standalone.exitCode);
    }
  });

  it('the route answers any HTTP client: 200, the plugin stdout as body, x-cni-exit-code', async () => {
    const body = JSON.stringify(node.cniConfig({ cniVersion: '1.0.0' }));
    const res = await new Promise<{ status: number; code: string | undefined; text: string }>((resolve, reject) => {
      const req = request(
        { socketPath: node.socketPath, path: '/v1/cni', method: 'POST', headers: { 'x-cni-command': 'VERSION', 'content-length': Buffer.byteLength(body) } },
        (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (text += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, code: r.headers['x-cni-exit-code'] as string | undefined, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(res.status).toBe(200);
    expect(res.code).toBe('0');
    expect(JSON.parse(res.text)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it('with the agent stopped, the same call falls back to the standalone plugin (code 11 for ADD)', async () => {
    await node.killAgent();
    try {
      const ns = node.newPodNetns();
      const r = await node.cni('ADD', { containerId: 'down1', ifname: 'eth0', netnsPath: ns.netnsPath });
      expect(r.exitCode).toBe(1);
      expect(r.json?.['code']).toBe(11);
      expect(r.stderr).toContain('"via":"standalone"');
    } finally {
      await node.restartAgent();
    }
  });
});
