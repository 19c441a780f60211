// `cilium-lab forward`: the host's door to a lab's apiserver. Listens on 127.0.0.1:<port> in the root netns
// and forwards each connection to the apiserver inside the control-plane netns.
//
// Why the whole main thread moves into the cp netns (instead of withNetns around net.connect): Node 20
// creates a client socket's fd on the next tick (net.connect -> lookupAndConnect -> process.nextTick ->
// internalConnect -> uv_tcp_connect -> socket(2)), so withNetns around net.connect still creates it in the
// root netns (checked: it connects to a root-netns listener). The listener is created first, in the root
// netns; sockets keep the netns they were made in, so after the setns every accepted connection is still a
// root-netns connection while every new outgoing socket (main thread) is made in the cp netns. libuv's
// pool threads stay in the root netns; nothing here uses them (no DNS: the target is an IP).
import { writeFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import koffi from 'koffi';
import { netnsInode, THREAD_NETNS_PATH, openNetns, closeNetns } from '@cilium-ts/netlink';
import { LabError } from './lab-error.js';

const CLONE_NEWNET = 0x40000000;
const setns = koffi.load('libc.so.6').func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;

export interface ForwarderOptions {
  /** /run/netns/<lab>-cp */
  netnsPath: string;
  targetHost: string;
  targetPort: number;
  /** Written (atomically) with the listening port once ready. */
  portFile: string;
  /** 0: any free port. */
  listenPort: number;
}

function moveMainThread(path: string): void {
  const fd = openNetns(path);
  try {
    if (setns(fd, CLONE_NEWNET) !== 0) throw new LabError('LAB_SETNS', `setns into ${path} failed`, 'run as root');
  } finally {
    closeNetns(fd);
  }
  if (netnsInode(THREAD_NETNS_PATH) !== netnsInode(path)) {
    throw new LabError('LAB_SETNS', `main thread is not in ${path} after setns`, 'internal error');
  }
}

export async function runForwarder(o: ForwarderOptions): Promise<void> {
  const rootIno = netnsInode(THREAD_NETNS_PATH);
  if (rootIno === netnsInode(o.netnsPath)) {
    throw new LabError('LAB_FORWARD', 'the forwarder must start outside the control-plane netns', 'start it in the root netns');
  }
  const server = net.createServer({ pauseOnConnect: false }, (client) => {
    const upstream = net.connect({ host: o.targetHost, port: o.targetPort });
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', (e) => {
      process.stderr.write(`forward: connect ${o.targetHost}:${o.targetPort}: ${e.message}\n`);
      close();
    });
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: o.listenPort, exclusive: true }, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  moveMainThread(o.netnsPath);
  const tmp = `${o.portFile}.tmp`;
  writeFileSync(tmp, `${addr.port}\n`);
  renameSync(tmp, o.portFile);
  process.stderr.write(`forward: 127.0.0.1:${addr.port} (root netns) -> ${o.targetHost}:${o.targetPort} (${o.netnsPath})\n`);
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await new Promise<void>(() => undefined);
}
