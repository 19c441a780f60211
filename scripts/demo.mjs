#!/usr/bin/env node
// make demo: one node with three pods, wired by our CNI plugin and BPF programs.
//
// The node is a network namespace of its own (so the demo never touches the machine's networking):
// cilium-agent runs in it, and cilium-cni is invoked in it exactly as a container runtime does
// (CNI_* environment, network config on stdin). Pods are network namespaces under /run/netns.
//
//   node scripts/demo.mjs            run the demo and tear it down
//   node scripts/demo.mjs --keep     leave it running and print how to reach it
//   node scripts/demo.mjs --down ID  tear down a demo left running
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => join(root, 'bin', n);
const args = process.argv.slice(2);
const sh = (cmd, a, opts = {}) => execFileSync(cmd, a, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
const step = (s) => process.stdout.write(`\n\x1b[1m==> ${s}\x1b[0m\n`);

function paths(id) {
  const dir = `/run/cilium-demo-${id}`;
  return {
    id,
    dir,
    node: `cdemo-${id}`,
    pods: ['client1', 'client2', 'server'].map((p) => ({ name: p, netns: `cdemo-${id}-${p}`, cid: `demo${id}${p}` })),
    sock: join(dir, 'cilium.sock'),
    hubble: join(dir, 'hubble.sock'),
    state: join(dir, 'state'),
    bpfRoot: join(dir, 'bpffs'),
    conf: join(dir, '05-cilium.conflist'),
    meta: join(dir, 'demo.json'),
    log: join(dir, 'agent.log'),
  };
}

function cni(p, command, pod) {
  const conf = JSON.parse(readFileSync(p.conf, 'utf8'));
  const netconf = { cniVersion: conf.cniVersion, name: conf.name, ...conf.plugins[0] };
  const r = spawnSync('nsenter', [`--net=/run/netns/${p.node}`, bin('cilium-cni')], {
    input: JSON.stringify(netconf),
    encoding: 'utf8',
    env: {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.cid,
      CNI_NETNS: `/run/netns/${pod.netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: join(root, 'bin'),
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name}`,
    },
  });
  if (r.status !== 0) throw new Error(`cilium-cni ${command} ${pod.name} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function down(id) {
  const p = paths(id);
  let meta = {};
  try {
    meta = JSON.parse(readFileSync(p.meta, 'utf8'));
  } catch {}
  for (const pid of [meta.serverPid, meta.agentPid]) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  if (existsSync(p.conf) && meta.agentPid) {
    // DEL needs the agent; it is idempotent and succeeds (best effort) even if the agent is gone.
  }
  for (const pod of p.pods) spawnSync('ip', ['netns', 'del', pod.netns]);
  spawnSync('ip', ['netns', 'del', p.node]);
  spawnSync('umount', [p.bpfRoot]);
  rmSync(p.dir, { recursive: true, force: true });
  console.log(`demo ${id} removed`);
}

async function waitFor(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function up(keep) {
  for (const b of ['cilium-agent', 'cilium-cni', 'cilium-dbg', 'hubble']) if (!existsSync(bin(b))) throw new Error(`bin/${b} missing: run make build`);
  const id = randomBytes(3).toString('hex');
  const p = paths(id);
  const meta = { id };
  let ok = false;
  try {
    mkdirSync(p.dir, { recursive: true });
    step(`node: network namespace ${p.node}, agent state in ${p.dir}`);
    sh('ip', ['netns', 'add', p.node]);
    sh('ip', ['-n', p.node, 'link', 'set', 'lo', 'up']);
    const agentLog = (await import('node:fs')).openSync(p.log, 'a');
    const agent = spawn('nsenter', [`--net=/run/netns/${p.node}`, bin('cilium-agent'), '--pod-cidr', '10.244.0.0/24', '--state-dir', p.state, '--bpf-root', p.bpfRoot, '--socket-path', p.sock, '--hubble-socket-path', p.hubble, '--node-name', `demo-${id}`], { stdio: ['ignore', agentLog, agentLog], detached: keep });
    meta.agentPid = agent.pid;
    writeFileSync(p.meta, JSON.stringify(meta));
    await waitFor(() => spawnSync(bin('cilium-dbg'), ['-H', `unix://${p.sock}`, 'status']).status === 0, 'cilium-agent');
    console.log(sh(bin('cilium-dbg'), ['-H', `unix://${p.sock}`, 'status']));

    const conf = JSON.parse(readFileSync(join(root, 'install/cni/05-cilium.conflist'), 'utf8'));
    conf.plugins[0]['socket-path'] = p.sock;
    conf.plugins[0]['log-file'] = join(p.dir, 'cilium-cni.log');
    writeFileSync(p.conf, JSON.stringify(conf, null, 2));
    const ips = {};
    for (const pod of p.pods) {
      step(`pod ${pod.name}: CNI_COMMAND=ADD cilium-cni (netns ${pod.netns})`);
      sh('ip', ['netns', 'add', pod.netns]);
      const res = JSON.parse(cni(p, 'ADD', pod));
      ips[pod.name] = res.ips[0].address.split('/')[0];
      console.log(JSON.stringify(res, null, 2));
    }

    step(`HTTP server in pod "server" (${ips.server}:8080)`);
    const server = spawn('ip', ['netns', 'exec', p.pods[2].netns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the server pod\\n')).listen(8080)"], { stdio: 'ignore', detached: keep });
    meta.serverPid = server.pid;
    writeFileSync(p.meta, JSON.stringify(meta));
    await waitFor(() => spawnSync('ip', ['netns', 'exec', p.pods[0].netns, 'curl', '-s', '-m', '1', `http://${ips.server}:8080/`]).status === 0, 'the HTTP server');
    for (const c of p.pods.slice(0, 2)) {
      step(`${c.name} (${ips[c.name]}) -> server: curl http://${ips.server}:8080/ and ping`);
      process.stdout.write(sh('ip', ['netns', 'exec', c.netns, 'curl', '-sS', '-m', '5', `http://${ips.server}:8080/`]));
      process.stdout.write(sh('ip', ['netns', 'exec', c.netns, 'ping', '-c', '2', '-W', '2', ips.server]).split('\n').slice(-3).join('\n'));
    }
    step('client1 -> the node (router IP 10.244.0.1): ping');
    process.stdout.write(sh('ip', ['netns', 'exec', p.pods[0].netns, 'ping', '-c', '1', '-W', '2', '10.244.0.1']).split('\n').slice(-3).join('\n'));

    step('cilium-dbg endpoint list');
    process.stdout.write(sh(bin('cilium-dbg'), ['-H', `unix://${p.sock}`, 'endpoint', 'list']));
    step('cilium-dbg bpf ct list global');
    process.stdout.write(sh(bin('cilium-dbg'), ['-H', `unix://${p.sock}`, 'bpf', 'ct', 'list', 'global']));
    step('hubble observe --last 40');
    process.stdout.write(sh(bin('hubble'), ['observe', '--server', `unix://${p.hubble}`, '--last', '40']));
    ok = true;
    if (keep) {
      step(`demo ${id} left running`);
      console.log(`  cilium-dbg:  bin/cilium-dbg -H unix://${p.sock} endpoint list`);
      console.log(`  hubble:      bin/hubble observe --server unix://${p.hubble} --follow`);
      console.log(`  a pod:       ip netns exec ${p.pods[0].netns} curl http://${ips.server}:8080/`);
      console.log(`  agent log:   ${p.log}`);
      console.log(`  tear down:   node scripts/demo.mjs --down ${id}`);
      agent.unref();
      server.unref();
      return;
    }
  } catch (e) {
    console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}\nagent log: ${p.log}`);
    try {
      console.error(readFileSync(p.log, 'utf8').split('\n').slice(-15).join('\n'));
    } catch {}
  }
  step('tear down: CNI DEL for each pod, stop the agent, remove namespaces');
  for (const pod of p.pods) {
    try {
      cni(p, 'DEL', pod);
      console.log(`DEL ${pod.name}: ok`);
    } catch (e) {
      console.log(`DEL ${pod.name}: ${e instanceof Error ? e.message : e}`);
    }
  }
  down(id);
  if (!ok) process.exit(1);
}

if (args[0] === '--down') {
  if (!args[1]) throw new Error('usage: demo.mjs --down ID');
  down(args[1]);
} else {
  await up(args.includes('--keep'));
}
