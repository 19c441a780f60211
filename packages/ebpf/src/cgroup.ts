/** cgroup v2 attachment (BPF_PROG_ATTACH / BPF_PROG_DETACH / BPF_PROG_QUERY on a cgroup directory fd). */
import { closeSync, openSync } from 'node:fs';
import os from 'node:os';
import { BpfError, kernelError } from './errors.js';
import type { BpfProgram } from './bpf-program.js';
import { addressOf } from './native.js';
import { Attr, BpfCmd, bpf } from './sys.js';

/** enum bpf_attach_type, by the lower-case name without BPF_ (e.g. 'cgroup_inet4_connect'). */
export const CgroupAttachType = {
  cgroup_inet_ingress: 0,
  cgroup_inet_egress: 1,
  cgroup_inet_sock_create: 2,
  cgroup_sock_ops: 3,
  cgroup_device: 6,
  cgroup_inet4_bind: 8,
  cgroup_inet6_bind: 9,
  cgroup_inet4_connect: 10,
  cgroup_inet6_connect: 11,
  cgroup_inet4_post_bind: 12,
  cgroup_inet6_post_bind: 13,
  cgroup_udp4_sendmsg: 14,
  cgroup_udp6_sendmsg: 15,
  cgroup_sysctl: 18,
  cgroup_udp4_recvmsg: 19,
  cgroup_udp6_recvmsg: 20,
  cgroup_getsockopt: 21,
  cgroup_setsockopt: 22,
  cgroup_inet4_getpeername: 29,
  cgroup_inet6_getpeername: 30,
  cgroup_inet4_getsockname: 31,
  cgroup_inet6_getsockname: 32,
  cgroup_inet_sock_release: 34,
} as const;
export type CgroupAttachTypeName = keyof typeof CgroupAttachType;

const BPF_F_ALLOW_OVERRIDE = 1;
const BPF_F_ALLOW_MULTI = 2;

export type CgroupAttachMode = 'multi' | 'override' | 'exclusive';

function attachTypeOf(t: string | number): number {
  if (typeof t === 'number') return t;
  const key = t.toLowerCase().replace(/^bpf_/, '');
  const v = (CgroupAttachType as Record<string, number>)[key];
  if (v === undefined) {
    throw new BpfError('EBPF_INVALID_ARGUMENT', `unknown cgroup attach type ${t}`, { hint: `one of: ${Object.keys(CgroupAttachType).join(', ')}` });
  }
  return v;
}

function openCgroup(cgroupPath: string, code: 'EBPF_CGROUP_ATTACH' | 'EBPF_CGROUP_DETACH' | 'EBPF_CGROUP_QUERY'): number {
  try {
    return openSync(cgroupPath, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BpfError(code, `open cgroup ${cgroupPath}: ${e.message}`, {
      errno: e.errno === undefined ? undefined : -e.errno,
      hint: 'pass a cgroup v2 directory (e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified)',
    });
  }
}

export interface CgroupAttachment {
  readonly cgroupPath: string;
  readonly attachType: number;
  /** Detach this program from the cgroup (idempotent). */
  detach(): void;
}

/**
 * Attach a program to a cgroup v2 directory. The attachment outlives the process (it is not a link),
 * like Cilium's socket LB; detach() removes it. mode 'multi' (default) coexists with other programs.
 */
export function cgroupAttach(
  cgroupPath: string,
  program: BpfProgram,
  attachType: CgroupAttachTypeName | string | number,
  o: { mode?: CgroupAttachMode } = {},
): CgroupAttachment {
  const type = attachTypeOf(attachType);
  const mode = o.mode ?? 'multi';
  const flags = mode === 'multi' ? BPF_F_ALLOW_MULTI : mode === 'override' ? BPF_F_ALLOW_OVERRIDE : 0;
  const cg = openCgroup(cgroupPath, 'EBPF_CGROUP_ATTACH');
  try {
    const r = bpf(BpfCmd.PROG_ATTACH, new Attr().u32(0, cg).u32(4, program.fd).u32(8, type).u32(12, flags));
    if (r < 0) {
      throw kernelError('EBPF_CGROUP_ATTACH', `attach ${program.name} to cgroup ${cgroupPath} as ${String(attachType)}`, -r, {
        ...(-r === os.constants.errno.EINVAL ? { hint: 'the program type/expected attach type does not match, or the path is not a cgroup v2 directory' } : {}),
        ...(-r === os.constants.errno.EPERM ? { hint: 'run as root; or another program is attached with an incompatible mode (multi vs override)' } : {}),
      });
    }
  } finally {
    closeSync(cg);
  }
  let attached = true;
  const progFd = program.fd;
  return {
    cgroupPath,
    attachType: type,
    detach() {
      if (!attached) return;
      const fd = openCgroup(cgroupPath, 'EBPF_CGROUP_DETACH');
      try {
        const r = bpf(BpfCmd.PROG_DETACH, new Attr().u32(0, fd).u32(4, progFd).u32(8, type));
        if (r < 0 && -r !== os.constants.errno.ENOENT) throw kernelError('EBPF_CGROUP_DETACH', `detach ${program.name} from cgroup ${cgroupPath}`, -r);
        attached = false;
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Ids of the programs attached to a cgroup for an attach type (BPF_PROG_QUERY). */
export function cgroupQuery(cgroupPath: string, attachType: CgroupAttachTypeName | string | number): number[] {
  const type = attachTypeOf(attachType);
  const fd = openCgroup(cgroupPath, 'EBPF_CGROUP_QUERY');
  try {
    const ids = Buffer.alloc(64 * 4);
    const attr = new Attr().u32(0, fd).u32(4, type).ptr(16, addressOf(ids)).u32(24, 64);
    const r = bpf(BpfCmd.PROG_QUERY, attr);
    if (r < 0) throw kernelError('EBPF_CGROUP_QUERY', `query cgroup ${cgroupPath} ${String(attachType)}`, -r);
    const n = attr.getU32(24);
    const out: number[] = [];
    for (let i = 0; i < Math.min(n, 64); i++) out.push(ids.readUInt32LE(i * 4));
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Detach a program (by fd) from a cgroup; false if it was not attached. */
export function cgroupDetach(cgroupPath: string, program: BpfProgram, attachType: CgroupAttachTypeName | string | number): boolean {
  const type = attachTypeOf(attachType);
  const fd = openCgroup(cgroupPath, 'EBPF_CGROUP_DETACH');
  try {
    const r = bpf(BpfCmd.PROG_DETACH, new Attr().u32(0, fd).u32(4, program.fd).u32(8, type));
    if (r === 0) return true;
    if (-r === os.constants.errno.ENOENT) return false;
    throw kernelError('EBPF_CGROUP_DETACH', `detach ${program.name} from cgroup ${cgroupPath}`, -r);
  } finally {
    closeSync(fd);
  }
}
