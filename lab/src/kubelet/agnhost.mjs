#!/usr/bin/env node
// The lab's stand-in for registry.k8s.io/e2e-test-images/agnhost, the image Kubernetes' own Service e2e
// tests use; only its `netexec` subcommand (what those tests run as a backend):
//   agnhost netexec [--http-port=8080] [--udp-port=8081]   (a port of -1 turns that server off)
// HTTP: /hostname -> the pod's hostname; /clientip -> "ip:port" of the client as the backend sees it;
// /echo?msg=X -> X; /healthz -> ok; / -> "NOW: <time>"; anything else 404.
// UDP: a datagram "hostname" / "clientip" / "echo X" gets the same answers (as agnhost's UDP server).
// SIGTERM/SIGINT: stop listening and exit 0.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const [sub, ...rest] = process.argv.slice(2);
if (sub !== 'netexec') {
  process.stderr.write(`agnhost (lab stand-in): only "netexec" is implemented, not ${JSON.stringify(sub ?? '')}\n`);
  process.exit(2);
}
const opt = (name, dflt) => {
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === `--${name}` && rest[i + 1] !== undefined) return Number(rest[i + 1]);
    if (a.startsWith(`--${name}=`)) return Number(a.slice(name.length + 3));
  }
  return dflt;
};
const httpPort = opt('http-port', 8080);
const udpPort = opt('udp-port', 8081);
const host = hostname();

const servers = [];
if (httpPort > 0) {
  const http = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    let status = 200;
    let body;
    switch (u.pathname) {
      case '/hostname': body = host; break;
      case '/clientip': body = `${(req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')}:${req.socket.remotePort ?? ''}`; break;
      case '/echo': body = u.searchParams.get('msg') ?? ''; break;
      case '/healthz': body = 'ok'; break;
      case '/': body = `NOW: ${new Date().toISOString()}`; break;
      default: status = 404; body = '404 page not found\n';
    }
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // keep-alive connections stay open (as Go's server): tests rely on an established connection surviving
  http.keepAliveTimeout = 600_000;
  http.listen(httpPort, () => process.stdout.write(`Started HTTP server on port ${httpPort}\n`));
  servers.push(http);
}
if (udpPort > 0) {
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const text = msg.toString('utf8').trim();
    let reply;
    if (text === 'hostname') reply = host;
    else if (text === 'clientip') reply = `${rinfo.address}:${rinfo.port}`;
    else if (text.startsWith('echo ')) reply = text.slice(5);
    else reply = '';
    udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.bind(udpPort, () => process.stdout.write(`Started UDP server on port ${udpPort}\n`));
  servers.push(udp);
}
const stop = () => {
  for (const s of servers) s.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
