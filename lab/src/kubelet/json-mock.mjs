#!/usr/bin/env node
// The lab's stand-in for quay.io/cilium/json-mock: an HTTP server that answers with JSON on $PORT
// (default 8080), every address. Like the real image's db it serves /public and /private collections;
// any other GET/HEAD answers `{}` with 200. SIGTERM/SIGINT close it and exit 0.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? '8080');
const db = {
  public: [{ id: 1, body: 'public information' }],
  private: [{ id: 1, body: 'secret information' }],
};

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
  const key = path.replace(/^\//, '');
  let status = 200;
  let body = {};
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    status = 405;
    body = { error: 'method not allowed' };
  } else if (key in db) {
    body = db[key];
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
  process.stdout.write(`${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} ${req.method} ${req.url} ${status}\n`);
});
server.listen(port, () => process.stdout.write(`json-mock listening on :${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
