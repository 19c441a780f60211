// A service backend for LB tests, run inside a pod netns with `nsenter --net=...`:
//   node svc-backend.mjs <name> <port>
// TCP: greets every connection with "<name>\n", then echoes what it receives. UDP: answers every
// datagram with "<name>:<datagram>". Prints "ready" once both listen.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const [name, port] = process.argv.slice(2);
let ready = 0;
const up = () => { if (++ready === 2) process.stdout.write('ready\n'); };
const srv = createServer((s) => {
  s.on('error', () => {});
  s.write(`${name}\n`);
  s.on('data', (d) => s.write(d));
});
srv.on('error', (e) => { process.stderr.write(`tcp: ${e.message}\n`); process.exit(1); });
srv.listen(Number(port), '0.0.0.0', up);
const u = createSocket('udp4');
u.on('message', (m, r) => u.send(`${name}:${m}`, r.port, r.address));
u.on('error', (e) => { process.stderr.write(`udp: ${e.message}\n`); process.exit(1); });
u.bind(Number(port), '0.0.0.0', up);
setTimeout(() => process.exit(0), 900_000).unref();
