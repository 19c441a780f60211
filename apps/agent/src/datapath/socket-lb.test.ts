// SocketLb on a cgroup2 directory of its own (never the hierarchy root), with bpf_lxc.o's maps pinned on a
// private bpffs. Needs `make -C bpf` (bpf_sock.o).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupQuery, unmountBpffs } from '@cilium-ts/ebpf';
import { defaultBpfDir } from '../daemon.js';
import { createLogger } from '../log.js';
import { Datapath } from './loader.js';
import { SOCK_PROGRAMS, SocketLb, cgroupRootProblem } from './socket-lb.js';

const CGROUP2 = '/sys/fs/cgroup/unified';
const sfx = randomBytes(3).toString('hex');
const dir = mkdtempSync(join(tmpdir(), `cilium-ts-sock-${sfx}-`));
const bpfRoot = join(dir, 'bpffs');
const cg = join(CGROUP2, `cilium-ts-socklb-${sfx}`);
const log = createLogger('silent' as 'error');
let dp: Datapath;

beforeAll(() => {
  dp = new Datapath({ bpfDir: defaultBpfDir(), bpfRoot, monitorAggregation: 'medium', log });
  dp.start();
  mkdirSync(cg);
});
afterAll(() => {
  dp?.close();
  if (existsSync(cg)) rmdirSync(cg);
  if (existsSync(bpfRoot)) unmountBpffs(bpfRoot);
  rmSync(dir, { recursive: true, force: true });
});

const counts = () => SOCK_PROGRAMS.map(([, t]) => cgroupQuery(cg, t).length);
const sockLb = () => new SocketLb({ objectPath: join(defaultBpfDir(), 'bpf_sock.o'), pinDir: dp.pinDir, cgroupRoot: cg, rodata: dp.rodata, log });

describe('SocketLb', () => {
  it('refuses the hierarchy root, non-cgroup2 directories and missing ones', () => {
    expect(cgroupRootProblem(CGROUP2)).toMatch(/root of the cgroup2 hierarchy/);
    expect(cgroupRootProblem(dir)).toMatch(/not a cgroup2 directory/);
    expect(cgroupRootProblem(join(dir, 'nope'))).toMatch(/does not exist/);
    expect(cgroupRootProblem(cg)).toBeUndefined();
    expect(() => new SocketLb({ objectPath: join(defaultBpfDir(), 'bpf_sock.o'), pinDir: dp.pinDir, cgroupRoot: CGROUP2, rodata: {}, log }).attach()).toThrow(expect.objectContaining({ code: 'SOCKET_LB_CGROUP' }));
  });

  it('attaches the 4 programs once; a second agent replaces the first one (no duplicates); detach removes them', () => {
    const a = sockLb();
    expect(a.attach()).toEqual({ replaced: 0 });
    expect(counts()).toEqual([1, 1, 1, 1]);
    const first = cgroupQuery(cg, 'cgroup_inet4_connect')[0];
    a.close(); // an agent that stops: the programs stay
    expect(counts()).toEqual([1, 1, 1, 1]);
    const b = sockLb();
    expect(b.attach()).toEqual({ replaced: 4 });
    expect(counts()).toEqual([1, 1, 1, 1]);
    expect(cgroupQuery(cg, 'cgroup_inet4_connect')[0]).not.toBe(first);
    b.detach();
    expect(counts()).toEqual([0, 0, 0, 0]);
    b.close();
  });
});
