import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from './bpf-object.js';
import { mountBpffs, unmountBpffs } from './bpffs.js';
import { cgroupAttach, cgroupDetach, cgroupQuery } from './cgroup.js';
import { u32, u64 } from './codec.js';
import { BpfError } from './errors.js';
import { findCgroup2, probeKernel } from './probe.js';
import { compileTestObject, makeTmpDir, sh, shQuiet, suffix } from './testdata/fixture.js';

/** Run a short-lived node process inside the cgroup that connects to 127.0.0.1:port. */
function connectFromCgroup(cg: string, port: number): Promise<void> {
  const script = `require('net').connect(${port}, '127.0.0.1').on('connect', function () { this.end(); }).on('error', () => process.exit(3))`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$1" -e "$2"`, cg, process.execPath, script], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}`))));
  });
}

describe('cgroup attach (real sockets)', () => {
  const sfx = suffix();
  const tmp = makeTmpDir('cilium-ts-ebpf-cg');
  const bpffs = path.join(tmp.dir, 'bpffs');
  let mountedCgroup2: string | undefined;
  let cg = '';
  let obj: BpfObject;
  let server: net.Server;
  let port = 0;

  beforeAll(async () => {
    expect(probeKernel().cgroupSockAddr).toBe(true);
    let root = findCgroup2();
    if (!root) {
      mountedCgroup2 = path.join(tmp.dir, 'cgroup2');
      mkdirSync(mountedCgroup2);
      sh('mount', ['-t', 'cgroup2', 'none', mountedCgroup2]);
      root = mountedCgroup2;
    }
    cg = path.join(root, `cilium-ts-ebpf-${sfx}`);
    mkdirSync(cg);
    mountBpffs(bpffs);
    obj = BpfObject.open(compileTestObject('test_prog', tmp.dir), { pinRoot: bpffs });
    obj.load();
    server = net.createServer((s) => s.resume().on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    obj?.close();
    try {
      rmdirSync(cg);
    } catch {
      /* not created */
    }
    if (mountedCgroup2) shQuiet('umount', [mountedCgroup2]);
    try {
      unmountBpffs(bpffs);
    } finally {
      tmp.remove();
    }
  });

  it('runs connect4 for sockets of the cgroup only, until detached', async () => {
    const prog = obj.program('cg_connect4');
    const counter = obj.map('test_array').typed(u32, u64);
    const att = cgroupAttach(cg, prog, 'cgroup_inet4_connect');
    try {
      expect(cgroupQuery(cg, 'cgroup_inet4_connect')).toEqual([prog.id]);
      await connectFromCgroup(cg, port);
      await connectFromCgroup(cg, port);
      expect(counter.lookup(0)).toBe(2n);
      // this process is not in the cgroup
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.end();
          resolve();
        });
        s.on('error', reject);
      });
      expect(counter.lookup(0)).toBe(2n);
    } finally {
      att.detach();
      att.detach();
    }
    expect(cgroupQuery(cg, 'cgroup_inet4_connect')).toEqual([]);
    await connectFromCgroup(cg, port);
    expect(counter.lookup(0)).toBe(2n);
    expect(cgroupDetach(cg, prog, 'cgroup_inet4_connect')).toBe(false);
  });

  it('explains bad attach types and paths', () => {
    const prog = obj.program('cg_connect4');
    expect(() => cgroupAttach(cg, prog, 'cgroup_nope')).toThrow(BpfError);
    try {
      cgroupAttach(path.join(tmp.dir, 'no-such-cgroup'), prog, 'cgroup_inet4_connect');
      expect.unreachable();
    } catch (e) {
      expect((e as BpfError).code).toBe('EBPF_CGROUP_ATTACH');
      expect((e as BpfError).hint).toContain('cgroup v2');
    }
  });
});
