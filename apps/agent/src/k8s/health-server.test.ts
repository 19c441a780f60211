import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { HealthServer, type HealthState } from './health-server.js';

let state: HealthState = { ok: false, msg: 'starting' };
const server = new HealthServer('127.0.0.1', 0, () => state);
afterAll(() => server.close());

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.boundPort, path, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

describe('GET /healthz (the chart probes)', () => {
  it('503 until healthy, then 200 with a short JSON status; brief: true leaves the detail out', async () => {
    await server.listen();
    expect(await get('/healthz', { brief: 'true' })).toEqual({ status: 503, body: { state: 'Failure', msg: 'starting' } });
    state = { ok: true, msg: 'agent n1 healthy', detail: { 'pod-cidr': '10.0.0.0/24' } };
    expect(await get('/healthz', { brief: 'true' })).toEqual({ status: 200, body: { state: 'Ok', msg: 'agent n1 healthy' } });
    expect(await get('/healthz')).toEqual({ status: 200, body: { state: 'Ok', msg: 'agent n1 healthy', 'pod-cidr': '10.0.0.0/24' } });
    expect((await get('/nope')).status).toBe(404);
  });
});
