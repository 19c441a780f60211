// The parts of cilium-lab that need no upstream binaries: the lab network (underlay bridge in its own netns,
// control plane and nodes on it, nothing in the root netns), the openssl PKI, the root-netns forwarder into
// the cp netns, and down's cleanup of processes, netns and dirs. Needs root and bin/cilium-lab (make bin).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { clientCert, createPki, describeCert } from './certs.js';
import { down } from './down.js';
import { claimIndex } from './index-claim.js';
import { labLayout, nodeLayout } from './layout.js';
import { attach, createUnderlay } from './network.js';
import { spawnDetached } from './processes.js';
import { writeState, type LabState } from './state.js';

const root = join(import.meta.dirname, '..', '..');
const name = `p${Math.random().toString(36).slice(2, 8)}`;
const noop = (): void => undefined;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

afterAll(async () => {
  await down({ name, log: noop });
});

describe('lab plumbing (no upstream binaries)', () => {
  const index = (() => {
    mkdirSync(`/run/cilium-lab/${name}`, { recursive: true });
    return claimIndex(name);
  })();
  const lab = labLayout(name, index);
  const state: LabState = {
    version: 1, name, index, createdAt: new Date().toISOString(), phase: 'creating', repoRoot: root, upstreamBin: '',
    cpIp: lab.cpIp, apiPort: 6443, netns: [], nodes: [], processes: [],
  };

  it('builds the underlay, the cp and two nodes, all reachable on the bridge, nothing in the root netns', () => {
    mkdirSync(lab.logDir, { recursive: true });
    state.netns.push(lab.underlayNetns, lab.cpNetns);
    writeState(state);
    createUnderlay(lab);
    attach(lab, { netns: lab.cpNetns, underlayLink: 'vcp', ip: lab.cpIp });
    for (const i of [1, 2]) {
      const n = nodeLayout(lab, i);
      state.netns.push(n.netns);
      writeState(state);
      attach(lab, { netns: n.netns, underlayLink: n.underlayLink, ip: n.ip });
    }
    expect(sh('ip', ['-n', `${name}-node1`, '-4', '-o', 'addr', 'show', 'eth0'])).toContain(`inet 172.30.${index}.11/24`);
    expect(sh('ip', ['-n', `${name}-node1`, 'route', 'show', 'default'])).toContain(`via 172.30.${index}.1 dev eth0`);
    expect(sh('ip', ['-n', lab.underlayNetns, '-o', 'link', 'show', 'master', 'br0'])).toMatch(/vcp.*\n.*vnode1.*\n.*vnode2/s);
    for (const dst of [lab.cpIp, `172.30.${index}.12`, lab.gatewayIp]) {
      expect(spawnSync('ip', ['netns', 'exec', `${name}-node1`, 'ping', '-c1', '-W2', dst]).status, `ping ${dst}`).toBe(0);
    }
    expect(sh('ip', ['-o', 'link', 'show'])).not.toMatch(/: (vcp|vnode\d+)[@:]/);
    expect(sh('ip', ['-o', '-4', 'addr', 'show'])).not.toContain(`172.30.${index}.`);
  });

  it('makes a CA, an apiserver serving cert with the SANs and client certs with user and group', () => {
    const pki = createPki(lab.certDir, `cilium-lab-${name}-ca`, { ips: ['127.0.0.1', lab.cpIp, '10.96.0.1'], dns: ['kubernetes', 'kubernetes.default.svc.cluster.local', 'localhost'] });
    const d = describeCert(pki.apiserver.cert);
    for (const san of ['IP Address:127.0.0.1', `IP Address:${lab.cpIp}`, 'IP Address:10.96.0.1', 'DNS:kubernetes', 'DNS:kubernetes.default.svc.cluster.local', 'DNS:localhost']) expect(d).toContain(san);
    const node = clientCert(pki, 'kubelet-node1', 'system:node:node1', 'system:nodes');
    expect(sh('openssl', ['x509', '-in', node.cert, '-noout', '-subject'])).toContain('O = system:nodes, CN = system:node:node1');
    for (const c of [pki.apiserver.cert, node.cert]) expect(sh('openssl', ['verify', '-CAfile', pki.ca.cert, c])).toContain(': OK');
    expect(sh('openssl', ['x509', '-in', node.cert, '-noout', '-ext', 'extendedKeyUsage'])).toContain('TLS Web Client Authentication');
  });

  it('forwards 127.0.0.1:<port> in the root netns to a server that exists only in the cp netns', async () => {
    const bin = join(root, 'bin', 'cilium-lab');
    expect(existsSync(bin), 'bin/cilium-lab (make bin)').toBe(true);
    state.processes.push(
      spawnDetached({
        role: 'server',
        netns: lab.cpNetns,
        log: join(lab.logDir, 'server.log'),
        argv: [process.execPath, '-e', `require('net').createServer(s=>s.end('hello from '+s.localAddress+' to '+s.remoteAddress+'\\n')).listen(6443,'${lab.cpIp}')`],
      }),
    );
    const portFile = join(lab.dir, 'forward.port');
    state.processes.push(
      spawnDetached({ role: 'forwarder', log: join(lab.logDir, 'forwarder.log'), argv: [process.execPath, bin, 'forward', '--netns', `/run/netns/${lab.cpNetns}`, '--target', `${lab.cpIp}:6443`, '--port-file', portFile] }),
    );
    writeState(state);
    for (let i = 0; i < 100 && !existsSync(portFile); i++) await sleep(100);
    const port = Number(readFileSync(portFile, 'utf8'));
    const fwd = state.processes.find((p) => p.role === 'forwarder')!;
    expect(statSync(`/proc/${fwd.pid}/task/${fwd.pid}/ns/net`).ino).toBe(statSync(`/run/netns/${lab.cpNetns}`).ino);
    // The server is up once its port answers through the forwarder.
    let reply = '';
    for (let i = 0; i < 50 && reply === ''; i++) {
      reply = await new Promise<string>((resolve) => {
        let got = '';
        const c = net.connect({ host: '127.0.0.1', port });
        c.on('data', (b) => (got += b.toString()));
        c.on('close', () => resolve(got));
        c.on('error', () => resolve(''));
      });
      if (reply === '') await sleep(100);
    }
    // The server saw the forwarder's socket come from the cp address: it was made in the cp netns.
    expect(reply.trim()).toBe(`hello from ${lab.cpIp} to ${lab.cpIp}`);
  });

  it('down stops the processes and removes the netns, the dir and the index claim', async () => {
    const pids = state.processes.map((p) => p.pid);
    expect(await down({ name, log: noop })).toBe(true);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
    expect(sh('ip', ['netns', 'list'])).not.toContain(`${name}-`);
    expect(existsSync(lab.dir)).toBe(false);
    expect(existsSync(`/run/cilium-lab/.index/${index}`) && readFileSync(`/run/cilium-lab/.index/${index}`, 'utf8').trim() === name).toBe(false);
    expect(await down({ name, log: noop })).toBe(false);
  });
});
