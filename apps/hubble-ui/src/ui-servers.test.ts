// The UI's two servers on loopback: the frontend serves the page and /healthz (also under a base URL) and
// proxies /api to the backend; the backend answers a JSON 502 naming the relay when the relay is not there.
// (With a real relay and agents: test/hubble-relay.test.ts.)
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendServer } from './backend-server.js';
import { FrontendServer } from './frontend-server.js';

/** A loopback port nobody listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return a.port;
}

describe('hubble-ui servers', () => {
  let backend: BackendServer;
  let frontend: FrontendServer;
  let prefixed: FrontendServer;
  let fe = 0;
  let fe2 = 0;
  let relayAddr = '';

  beforeAll(async () => {
    relayAddr = `127.0.0.1:${await deadPort()}`;
    backend = new BackendServer({ flowsApiAddr: relayAddr, timeoutMs: 3000 });
    const be = await backend.listen(0, '127.0.0.1');
    frontend = new FrontendServer({ backend: `http://127.0.0.1:${be}` });
    fe = await frontend.listen(0, '127.0.0.1');
    prefixed = new FrontendServer({ backend: `http://127.0.0.1:${be}`, baseUrl: '/hubble/' });
    fe2 = await prefixed.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await Promise.all([frontend?.close(), prefixed?.close(), backend?.close()]);
  });

  it('serves the page and /healthz, also under HUBBLE_UI_BASE_URL', async () => {
    for (const base of [`http://127.0.0.1:${fe}/`, `http://127.0.0.1:${fe2}/hubble/`]) {
      const h = await fetch(`${base}healthz`);
      expect(h.status).toBe(200);
      const page = await fetch(base);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<title>Hubble UI</title>');
    }
    expect((await fetch(`http://127.0.0.1:${fe}/nope`)).status).toBe(404);
  });

  it('proxies /api to the backend, which reports an unreachable relay as a JSON 502', async () => {
    const r = await fetch(`http://127.0.0.1:${fe}/api/status`);
    expect(r.status).toBe(502);
    const body = (await r.json()) as { code: string; message: string; hint: string };
    expect(body.code).toBe('UI_RELAY_UNAVAILABLE');
    expect(body.message).toContain(relayAddr);
    const bad = await fetch(`http://127.0.0.1:${fe2}/hubble/api/flows?last=abc`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('UI_BAD_LAST');
  });
});
