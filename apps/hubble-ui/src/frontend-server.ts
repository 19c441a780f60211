// hubble-ui frontend: the page (/, index.html) and /healthz; /api/* is proxied to the backend (in the
// chart's pod: the backend container on 127.0.0.1:8090). HUBBLE_UI_BASE_URL (e.g. /hubble/) is stripped
// from request paths, and the page uses relative URLs, so the UI works behind a path prefix.
import * as http from 'node:http';
import { listenHttp } from './backend-server.js';
import { UI_PAGE } from './ui-page.js';

export interface FrontendOptions {
  /** Base URL of the backend, e.g. http://127.0.0.1:8090. */
  backend: string;
  baseUrl?: string | undefined;
}

export class FrontendServer {
  #server: http.Server | undefined;
  readonly #backend: URL;
  readonly #base: string;

  constructor(o: FrontendOptions) {
    this.#backend = new URL(o.backend);
    const b = o.baseUrl ?? '/';
    this.#base = b.endsWith('/') ? b : `${b}/`;
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let path = (req.url ?? '/').split('?')[0] ?? '/';
    const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?')) : '';
    if (this.#base !== '/' && path.startsWith(this.#base)) path = `/${path.slice(this.#base.length)}`;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (path.startsWith('/api/')) {
      const up = http.request(
        { host: this.#backend.hostname.replace(/^\[|\]$/g, ''), port: this.#backend.port || 80, method: req.method, path: path + query, headers: { accept: 'application/json' } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? 'application/json', 'cache-control': 'no-store' });
          r.pipe(res);
        },
      );
      up.setTimeout(30_000, () => up.destroy(new Error('backend did not answer within 30 s')));
      up.on('error', (e) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'UI_BACKEND_UNAVAILABLE', message: `hubble-ui backend at ${this.#backend.href}: ${e.message}`, hint: 'is the backend container running?' }));
      });
      req.pipe(up);
      return;
    }
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(UI_PAGE);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  async listen(port: number, host = ''): Promise<number> {
    const s = await listenHttp((req, res) => this.handle(req, res), port, host);
    this.#server = s;
    const a = s.address();
    return a !== null && typeof a === 'object' ? a.port : port;
  }

  close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
