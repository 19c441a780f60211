// A service client for LB tests, run inside a pod netns with `nsenter --net=...`. With --cgroup <dir> it
// first moves itself into that cgroup2 directory (where the agent attached the socket LB).
//   node svc-client.mjs [--cgroup dir] many <host> <port> <n>   n TCP connections one after the other;
//        prints {"names": [...], "errors": [{"code", "ms"}]} (names: the backends' greetings)
//   node svc-client.mjs [--cgroup dir] udp <host> <port> <n>    n UDP sockets, one datagram each;
//        prints {"names": [...], "errors": [...], "peers": [...]} (peers: the reply's source address)
//   node svc-client.mjs [--cgroup dir] hold <host> <port>       one TCP connection kept open: prints
//        {"name"} then, for every stdin line, sends it and prints {"echo"} (or {"error"}); exits on stdin end
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
if (args[0] === '--cgroup') {
  appendFileSync(`${args[1]}/cgroup.procs`, `${process.pid}\n`);
  args.splice(0, 2);
}
const [mode, host, portS, nS] = args;
const port = Number(portS);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function once() {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(port, host);
    let got = '';
    const done = (r) => { clearTimeout(timer); s.destroy(); resolve(r); };
    const timer = setTimeout(() => done({ code: 'TIMEOUT', ms: Date.now() - t0 }), 5000);
    s.on('data', (d) => { got += d; const i = got.indexOf('\n'); if (i >= 0) done({ name: got.slice(0, i) }); });
    s.on('error', (e) => done({ code: e.code ?? e.message, ms: Date.now() - t0 }));
  });
}

function udpOnce(i) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = createSocket('udp4');
    const done = (r) => { clearTimeout(timer); s.close(); resolve(r); };
    const timer = setTimeout(() => done({ code: 'TIMEOUT', ms: Date.now() - t0 }), 3000);
    s.on('message', (m, r) => { const [name] = m.toString().split(':'); done({ name, peer: `${r.address}:${r.port}` }); });
    s.on('error', (e) => done({ code: e.code ?? e.message, ms: Date.now() - t0 }));
    s.send(`ping${i}`, port, host, (e) => { if (e) done({ code: e.code ?? e.message, ms: Date.now() - t0 }); });
  });
}

if (mode === 'many' || mode === 'udp') {
  const names = [];
  const errors = [];
  const peers = [];
  for (let i = 0; i < Number(nS); i++) {
    const r = mode === 'many' ? await once() : await udpOnce(i);
    if (r.name !== undefined) names.push(r.name);
    else errors.push(r);
    if (r.peer) peers.push(r.peer);
  }
  print(mode === 'udp' ? { names, errors, peers } : { names, errors });
  process.exit(0);
} else if (mode === 'hold') {
  const s = connect(port, host);
  let buf = '';
  let greeted = false;
  s.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!greeted) { greeted = true; print({ name: line }); } else print({ echo: line });
    }
  });
  s.on('error', (e) => { print({ error: e.code ?? e.message }); process.exit(1); });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => s.write(`${l}\n`));
  rl.on('close', () => { s.end(); process.exit(0); });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
