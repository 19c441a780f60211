/**
 * tc attachment through libbpf (bpf_tc_*: netlink in the CURRENT network namespace of the calling
 * thread; call on the main thread, inside withNetns() to reach a device of another namespace).
 * Filters are direct-action BPF classifiers on a clsact qdisc, identified by (handle, priority).
 */
import os from 'node:os';
import { BpfError, kernelError } from './errors.js';
import type { BpfProgram } from './bpf-program.js';
import { libbpf } from './native.js';

export type TcDirection = 'ingress' | 'egress';

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;
const HOOK_SIZE = 24; // struct bpf_tc_hook
const OPTS_SIZE = 32; // struct bpf_tc_opts

/** Defaults: Cilium attaches its tc programs with handle 1, priority 1. */
export const TC_DEFAULT_HANDLE = 1;
export const TC_DEFAULT_PRIORITY = 1;

function hook(ifindex: number, attachPoint: number): Buffer {
  if (!Number.isInteger(ifindex) || ifindex <= 0) {
    throw new BpfError('EBPF_INVALID_ARGUMENT', `tc: invalid ifindex ${ifindex}`, { hint: 'pass the interface index (if_nametoindex) in the current netns' });
  }
  const b = Buffer.alloc(HOOK_SIZE);
  b.writeBigUInt64LE(BigInt(HOOK_SIZE), 0);
  b.writeInt32LE(ifindex, 8);
  b.writeUInt32LE(attachPoint, 12);
  return b;
}

function opts(o: { fd?: number; flags?: number; handle: number; priority: number }): Buffer {
  const b = Buffer.alloc(OPTS_SIZE);
  b.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
  b.writeInt32LE(o.fd ?? 0, 8);
  b.writeUInt32LE(o.flags ?? 0, 12);
  b.writeUInt32LE(o.handle, 20);
  b.writeUInt32LE(o.priority, 24);
  return b;
}

function point(direction: TcDirection): number {
  if (direction === 'ingress') return BPF_TC_INGRESS;
  if (direction === 'egress') return BPF_TC_EGRESS;
  throw new BpfError('EBPF_INVALID_ARGUMENT', `tc: direction must be 'ingress' or 'egress', not ${String(direction)}`);
}

function noDevice(errno: number, ifindex: number): { hint: string } | Record<string, never> {
  return errno === os.constants.errno.ENODEV || errno === os.constants.errno.EINVAL
    ? { hint: `no device with ifindex ${ifindex} in this network namespace (attach runs in the caller's netns: use withNetns)` }
    : {};
}

/** Create the clsact qdisc on a device (idempotent). */
export function tcEnsureClsact(ifindex: number): void {
  const r = libbpf().bpf_tc_hook_create(hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (r < 0 && -r !== os.constants.errno.EEXIST) {
    throw kernelError('EBPF_TC_HOOK', `create clsact qdisc on ifindex ${ifindex}`, -r, noDevice(-r, ifindex));
  }
}

export interface TcAttachOptions {
  ifindex: number;
  direction: TcDirection;
  program: BpfProgram | number;
  /** default 1 */
  priority?: number;
  /** default 1 */
  handle?: number;
  /** Replace a filter with the same handle/priority (default true); false fails with EEXIST if present. */
  replace?: boolean;
}

/** Attach a direct-action classifier (creates clsact if missing). Returns the attached program id. */
export function tcAttach(o: TcAttachOptions): { progId: number; handle: number; priority: number } {
  const fd = typeof o.program === 'number' ? o.program : o.program.fd;
  const name = typeof o.program === 'number' ? `fd ${fd}` : o.program.name;
  const handle = o.handle ?? TC_DEFAULT_HANDLE;
  const priority = o.priority ?? TC_DEFAULT_PRIORITY;
  tcEnsureClsact(o.ifindex);
  const h = hook(o.ifindex, point(o.direction));
  const op = opts({ fd, flags: o.replace === false ? 0 : BPF_TC_F_REPLACE, handle, priority });
  const r = libbpf().bpf_tc_attach(h, op);
  if (r < 0) {
    const errno = -r;
    throw kernelError('EBPF_TC_ATTACH', `attach ${name} to ifindex ${o.ifindex} ${o.direction} (handle ${handle}, priority ${priority})`, errno, {
      ...(errno === os.constants.errno.EEXIST ? { hint: 'a filter with this handle/priority exists: pass replace: true' } : noDevice(errno, o.ifindex)),
    });
  }
  return { progId: op.readUInt32LE(16), handle: op.readUInt32LE(20), priority: op.readUInt32LE(24) };
}

export interface TcFilterRef {
  ifindex: number;
  direction: TcDirection;
  priority?: number;
  handle?: number;
}

/** Detach the filter (handle, priority); false if there was none (or no clsact, or no device). */
export function tcDetach(o: TcFilterRef): boolean {
  const r = libbpf().bpf_tc_detach(
    hook(o.ifindex, point(o.direction)),
    opts({ handle: o.handle ?? TC_DEFAULT_HANDLE, priority: o.priority ?? TC_DEFAULT_PRIORITY }),
  );
  if (r === 0) return true;
  const errno = -r;
  if (errno === os.constants.errno.ENOENT || errno === os.constants.errno.EINVAL || errno === os.constants.errno.ENODEV) return false;
  throw kernelError('EBPF_TC_DETACH', `detach tc filter from ifindex ${o.ifindex} ${o.direction}`, errno);
}

/** The program attached at (handle, priority), or undefined. */
export function tcQuery(o: TcFilterRef): { progId: number } | undefined {
  const op = opts({ handle: o.handle ?? TC_DEFAULT_HANDLE, priority: o.priority ?? TC_DEFAULT_PRIORITY });
  const r = libbpf().bpf_tc_query(hook(o.ifindex, point(o.direction)), op);
  if (r === 0) return { progId: op.readUInt32LE(16) };
  const errno = -r;
  if (errno === os.constants.errno.ENOENT || errno === os.constants.errno.EINVAL || errno === os.constants.errno.ENODEV) return undefined;
  throw kernelError('EBPF_TC_QUERY', `query tc filter on ifindex ${o.ifindex} ${o.direction}`, errno);
}
