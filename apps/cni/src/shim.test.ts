/**
 * The native bin/cilium-cni (apps/cni/shim/cilium-cni.c) against fake agents: a real unix-socket
 * server in this process that records what the shim sends and answers what each case needs. Checks
 * the request the shim builds, that a CNI answer is passed through as is, that anything else (404,
 * garbage, no socket) falls back to the standalone Node plugin, and the timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCniBuilt, runCni } from '../../../test/lib/cni-runner.js';

interface Seen {
  head: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** A one-shot-per-connection HTTP/1.1 server on a unix socket: parses the request, lets `answer` reply. */
async function fakeAgent(path: string, answer: (req: Seen, sock: Socket) => void): Promise<{ server: Server; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + len) return;
      const req = { head: lines[0] ?? '', headers, body: buf.subarray(end + 4, end + 4 + len) };
      seen.push(req);
      sock.removeAllListeners('data');
      answer(req, sock);
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, seen };
}

const close = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

let dir = '';
beforeAll(async () => {
  await ensureCniBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cilium-cni-shim-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const conf = (sock: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({ cniVersion: '1.0.0', name: 'cilium', type: 'cilium-cni', 'socket-path': sock, ...over });

describe('bin/cilium-cni (native shim)', () => {
  it('sends POST /v1/cni with the x-cni-* headers that are set and stdin as the body, and passes a CNI answer through', async () => {
    const sock = join(dir, 'pass.sock');
    const body = '{"cniVersion":"1.0.0","code":7,"msg":"from the fake agent"}\n';
    const { server, seen } = await fakeAgent(sock, (_req, s) => {
      s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-CNI-Exit-Code: 3\r\nContent-Length: ${body.length}\r\n\r\n${body}trailing bytes past Content-Length`);
    });
    try {
      // A config well past one pipe buffer and one read(), to exercise short reads and writes.
      const config = JSON.stringify(conf(sock, { padding: 'x'.repeat(300_000), nested: { 'socket-path': '/not/this/one' } }));
      const r = await runCni({ command: 'DEL', config, containerId: 'c1', ifname: 'eth0', args: 'K8S_POD_NAME=p' });
      expect(r.exitCode).toBe(3);
      expect(r.stdout).toBe(body);
      expect(seen).toHaveLength(1);
      const req = seen[0]!;
      expect(req.head).toBe('POST /v1/cni HTTP/1.1');
      expect(req.body.toString()).toBe(config);
      expect(req.headers['connection']).toBe('close');
      expect(req.headers['x-cni-command']).toBe('DEL');
      expect(req.headers['x-cni-containerid']).toBe('c1');
      expect(req.headers['x-cni-ifname']).toBe('eth0');
      expect(req.headers['x-cni-args']).toBe('K8S_POD_NAME=p');
      expect(req.headers['x-cni-path']).toMatch(/bin$/);
      expect(req.headers).not.toHaveProperty('x-cni-netns'); // CNI_NETNS was not set
      expect(req.headers['x-cni-caller-netns']).toMatch(/^\d+:\d+$/);
    } finally {
      await close(server);
    }
  });

  it('falls back to the standalone plugin when the agent answers 404 (an agent without the route)', async () => {
    const sock = join(dir, 'old.sock');
    const { server, seen } = await fakeAgent(sock, (_req, s) => {
      const b = '{"code":"API_NOT_FOUND","message":"no API route POST /v1/cni"}';
      s.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    });
    try {
      const r = await runCni({ command: 'VERSION', config: conf(sock, { cniVersion: '0.4.0' }) });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.json).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
      expect(seen.map((s) => s.head)).toEqual(['POST /v1/cni HTTP/1.1']);
    } finally {
      await close(server);
    }
  });

  it('falls back on a garbage answer, and the standalone plugin logs why', async () => {
    const sock = join(dir, 'garbage.sock');
    const logFile = join(dir, 'garbage.log');
    // Every connection gets garbage: the shim's POST /v1/cni, then the standalone plugin's GET /v1/healthz.
    const { server, seen } = await fakeAgent(sock, (_req, s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\nnot http at all'));
    try {
      const r = await runCni({ command: 'STATUS', config: conf(sock, { 'log-file': logFile, 'enable-debug': true }) });
      // The standalone plugin ran: its STATUS could not make sense of the agent either (code 50).
      expect(r.exitCode).toBe(1);
      expect(r.json?.['code']).toBe(50);
      expect(seen[0]?.head).toBe('POST /v1/cni HTTP/1.1');
      expect(seen[1]?.head).toBe('GET /v1/healthz HTTP/1.1');
      const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]?.['via']).toBe('standalone');
      expect(String(lines[0]?.['fallback'])).toContain('did not answer POST /v1/cni with a CNI result (SSH-2.0-OpenSSH_9.2)');
    } finally {
      await close(server);
    }
  });

  it('falls back when the socket does not exist (and says so in the log)', async () => {
    const sock = join(dir, 'absent.sock');
    const logFile = join(dir, 'absent.log');
    const r = await runCni({ command: 'DEL', config: conf(sock, { 'log-file': logFile }), containerId: 'gone', ifname: 'eth0' });
    expect(r.exitCode, r.stdout).toBe(0); // best-effort DEL without an agent: the standalone plugin's behaviour
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const warn = lines.find((l) => String(l['msg']).includes('unreachable'));
    expect(warn?.['via']).toBe('standalone');
    expect(String(warn?.['fallback'])).toBe(`connect unix://${sock}: No such file or directory`);
  });

  it('a variable that cannot travel in a header goes the standalone way without calling the agent', async () => {
    const sock = join(dir, 'unsafe.sock');
    const { server, seen } = await fakeAgent(sock, (_req, s) => s.end('HTTP/1.1 500 x\r\n\r\n'));
    try {
      const r = await runCni({ command: 'VERSION', config: conf(sock), args: 'K8S_POD_NAME=a\nb' });
      expect(r.exitCode).toBe(0);
      expect(r.json?.['cniVersion']).toBe('1.0.0');
      expect(seen).toHaveLength(0);
    } finally {
      await close(server);
    }
  });

  it('an agent that does not answer in time gives code 11 (CILIUM_CNI_AGENT_TIMEOUT_MS)', async () => {
    const sock = join(dir, 'slow.sock');
    const held: Socket[] = [];
    const { server } = await fakeAgent(sock, (_req, s) => held.push(s));
    try {
      const t0 = Date.now();
      const r = await runCni({ command: 'ADD', config: conf(sock, { cniVersion: '0.3.1' }), containerId: 'c', netns: '/x', ifname: 'eth0', env: { CILIUM_CNI_AGENT_TIMEOUT_MS: '300' } });
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(r.exitCode).toBe(1);
      expect(r.json?.['code']).toBe(11);
      expect(r.json?.['cniVersion']).toBe('0.3.1');
      expect(String(r.json?.['details'])).toContain(sock);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      for (const s of held) s.destroy();
      await close(server);
    }
  });
});
