// Tiny echo servers/clients for pod traffic tests, run inside a netns with `nsenter --net=...`.
//   node net-echo.mjs tcp-server <port> [host]     prints "ready" then echoes every connection
//   node net-echo.mjs udp-server <port> [host]     prints "ready" then echoes every datagram
//   node net-echo.mjs tcp-client <host> <port> <msg>   prints the echoed reply, exit 0 / 1
//   node net-echo.mjs udp-client <host> <port> <msg>   prints the echoed reply, exit 0 / 1 (retries)
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';

const [mode, a1, a2, a3] = process.argv.slice(2);
const fail = (m) => { process.stderr.write(`${mode}: ${m}\n`); process.exit(1); };
setTimeout(() => fail('timeout'), mode.endsWith('server') ? 600_000 : 10_000).unref();

if (mode === 'tcp-server') {
  const srv = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  srv.listen(Number(a1), a2 ?? '0.0.0.0', () => process.stdout.write('ready\n'));
  srv.on('error', (e) => fail(e.message));
} else if (mode === 'udp-server') {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.on('error', (e) => fail(e.message));
  s.bind(Number(a1), a2 ?? '0.0.0.0', () => process.stdout.write('ready\n'));
} else if (mode === 'tcp-client') {
  const s = connect(Number(a2), a1, () => s.write(a3));
  let got = '';
  s.on('data', (d) => { got += d; if (got.length >= a3.length) { process.stdout.write(got); s.end(); process.exit(got === a3 ? 0 : 1); } });
  s.on('error', (e) => fail(e.message));
} else if (mode === 'udp-client') {
  const s = createSocket('udp4');
  s.on('message', (m) => { process.stdout.write(m.toString()); process.exit(m.toString() === a3 ? 0 : 1); });
  s.on('error', (e) => fail(e.message));
  const send = () => s.send(a3, Number(a2), a1);
  send();
  setInterval(send, 500);
} else {
  fail('unknown mode');
}
