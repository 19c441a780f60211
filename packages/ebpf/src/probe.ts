/** Kernel feature probes (cached): what the datapath relies on. */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { libbpf } from './native.js';
import { ProgType } from './bpf-program.js';
import { MapType } from './sys.js';

const BPF_FUNC_redirect_neigh = 152;
const BPF_FUNC_redirect_peer = 155;

export interface KernelFeatures {
  kernelRelease: string;
  /** BPF_MAP_TYPE_RINGBUF (5.8+). */
  ringbuf: boolean;
  /** Kernel BTF at /sys/kernel/btf/vmlinux. */
  btf: boolean;
  /** bpf_redirect_peer from tc (5.10+). */
  bpfRedirectPeer: boolean;
  /** bpf_redirect_neigh from tc (5.10+). */
  bpfRedirectNeigh: boolean;
  lruHash: boolean;
  lruPercpuHash: boolean;
  percpuHash: boolean;
  schedCls: boolean;
  /** cgroup/connect4 and friends. */
  cgroupSockAddr: boolean;
  /** cgroup v2 mount point, if any. */
  cgroup2Path: string | undefined;
  /** Whether we may do BPF at all (root / CAP_BPF). */
  privileged: boolean;
}

let cached: KernelFeatures | undefined;

function yes(r: number): boolean {
  return r === 1;
}

/** cgroup v2 mount point from /proc/self/mounts (first one), if any. */
export function findCgroup2(): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === 'cgroup2' && f[1]) return f[1];
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

export function probeKernel(): KernelFeatures {
  if (cached) return cached;
  const lib = libbpf();
  const ringbufR = lib.libbpf_probe_bpf_map_type(MapType.RINGBUF, null);
  cached = {
    kernelRelease: os.release(),
    ringbuf: yes(ringbufR),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    bpfRedirectPeer: yes(lib.libbpf_probe_bpf_helper(ProgType.SCHED_CLS, BPF_FUNC_redirect_peer, null)),
    bpfRedirectNeigh: yes(lib.libbpf_probe_bpf_helper(ProgType.SCHED_CLS, BPF_FUNC_redirect_neigh, null)),
    lruHash: yes(lib.libbpf_probe_bpf_map_type(MapType.LRU_HASH, null)),
    lruPercpuHash: yes(lib.libbpf_probe_bpf_map_type(MapType.LRU_PERCPU_HASH, null)),
    percpuHash: yes(lib.libbpf_probe_bpf_map_type(MapType.PERCPU_HASH, null)),
    schedCls: yes(lib.libbpf_probe_bpf_prog_type(ProgType.SCHED_CLS, null)),
    cgroupSockAddr: yes(lib.libbpf_probe_bpf_prog_type(ProgType.CGROUP_SOCK_ADDR, null)),
    cgroup2Path: findCgroup2(),
    privileged: ringbufR !== -os.constants.errno.EPERM && ringbufR !== -os.constants.errno.EACCES,
  };
  return cached;
}
