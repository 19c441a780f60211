/**
 * AgentClient over a real unix socket served by node:http (the wire behaviour: status codes, error
 * bodies, unreachable sockets). The full contract against the real agent is in test/cni-e2e.test.ts.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentApiError, AgentClient, AgentUnreachableError } from './agent-client.js';

let dir: string;
let server: Server;
let sock: string;
const seen: Array<{ method: string; url: string; body: string; connection: string | undefined }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cni-agent-client-'));
  sock = join(dir, 'api.sock');
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, connection: req.headers.connection });
      const send = (status: number, v?: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(v === undefined ? '' : JSON.stringify(v));
      };
      if (req.url === '/v1/endpoint/container-id:abc' && req.method === 'GET') return send(404, { code: 'ENDPOINT_NOT_FOUND', message: 'no endpoint', hint: 'h' });
      if (req.url?.startsWith('/v1/ipam/10.0.0.9') && req.method === 'DELETE') return send(409, { code: 'IPAM_IN_USE', message: '10.0.0.9 is used by endpoint 7', hint: 'delete the endpoint first' });
      if (req.url?.startsWith('/v1/ipam/10.0.0.8') && req.method === 'DELETE') return send(404, { code: 'IPAM_NOT_FOUND', message: 'not allocated' });
      if (req.url?.startsWith('/v1/ipam?') && req.method === 'POST') return send(201, { address: { ipv4: '10.0.0.5' }, ipv4: { ip: '10.0.0.5', gateway: '10.0.0.1', cidrs: ['10.0.0.0/24'] } });
      if (req.url === '/v1/endpoint/container-id:abc' && req.method === 'PUT') return send(201, { id: 3 });
      return send(500, { code: 'BOOM', message: 'internal' });
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('AgentClient', () => {
  it('allocates with family and owner in the query, without keep-alive', async () => {
    const c = new AgentClient({ socketPath: sock });
    const r = await c.ipamAllocate({ owner: 'ctr:eth0' });
    expect(r.address.ipv4).toBe('10.0.0.5');
    const last = seen.at(-1)!;
    expect(last.url).toBe('/v1/ipam?family=ipv4&owner=ctr%3Aeth0');
    expect(last.connection).toBe('close');
  });

  it('maps 404 to undefined/false and sends JSON bodies', async () => {
    const c = new AgentClient({ socketPath: sock });
    expect(await c.endpointGet('container-id:abc')).toBeUndefined();
    expect(await c.ipamRelease('10.0.0.8', { owner: 'x:eth0' })).toBe(false);
    expect(seen.at(-1)!.url).toBe('/v1/ipam/10.0.0.8?owner=x%3Aeth0');
    const ep = await c.endpointPut('container-id:abc', {
      'container-id': 'abc', 'container-interface-name': 'eth0', 'interface-name': 'lxc1', 'interface-index': 5,
      mac: '02:00:00:00:00:01', 'host-mac': '02:00:00:00:00:02', addressing: { ipv4: '10.0.0.5' },
    });
    expect(ep.id).toBe(3);
    expect(JSON.parse(seen.at(-1)!.body)).toMatchObject({ 'container-id': 'abc', addressing: { ipv4: '10.0.0.5' } });
  });

  it('throws AgentApiError with the agent code, status and hint', async () => {
    const c = new AgentClient({ socketPath: sock });
    const e = await c.ipamRelease('10.0.0.9').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentApiError);
    expect(e).toMatchObject({ status: 409, code: 'IPAM_IN_USE', hint: 'delete the endpoint first' });
    expect(String((e as Error).message)).toContain('10.0.0.9 is used by endpoint 7');
    await expect(c.endpointList()).rejects.toMatchObject({ status: 500, code: 'BOOM' });
  });

  it('throws AgentUnreachableError naming the socket, with errno and the hint', async () => {
    const missing = join(dir, 'nope.sock');
    const c = new AgentClient({ socketPath: missing });
    const e = await c.healthz().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentUnreachableError);
    expect(e).toMatchObject({ code: 'AGENT_UNREACHABLE', socketPath: missing, errno: 2 });
    expect((e as AgentUnreachableError).message).toContain(missing);
    expect((e as AgentUnreachableError).hint).toContain('is cilium-agent running?');
  });
});
