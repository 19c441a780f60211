/** A loaded BPF program (fd owned by its BpfObject, or by itself when opened from a pin). */
import { closeSync } from 'node:fs';
import os from 'node:os';
import { BpfError, kernelError } from './errors.js';
import { addressOf } from './native.js';
import { Attr, BpfCmd, bpf, cString } from './sys.js';

export const ProgType = {
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  CGROUP_SOCK: 9,
  LWT_IN: 10,
  LWT_OUT: 11,
  LWT_XMIT: 12,
  SOCK_OPS: 13,
  SK_SKB: 14,
  CGROUP_DEVICE: 15,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
} as const;

export interface TestRunResult {
  /** The program's return value (TC_ACT_*, XDP_*, ...). */
  retval: number;
  /** The packet after the program ran. */
  data: Buffer;
  /** The context after the program ran (when ctx was given). */
  ctx: Buffer | undefined;
  /** Average run time in ns (kernel measured). */
  durationNs: number;
}

export class BpfProgram {
  readonly name: string;
  readonly fd: number;
  /** enum bpf_prog_type (ProgType.*). */
  readonly type: number;
  /** ELF section ('tc', 'cgroup/connect4', ...). */
  readonly section: string;
  private readonly ownsFd: boolean;
  private _id: number | undefined;

  constructor(o: { name: string; fd: number; type: number; section: string; id?: number }, ownsFd = false) {
    this._id = o.id;
    this.name = o.name;
    this.fd = o.fd;
    this.type = o.type;
    this.section = o.section;
    this.ownsFd = ownsFd;
  }

  /**
   * Run the program once (or `repeat` times) on a packet with BPF_PROG_TEST_RUN, as the datapath tests
   * do. For tc programs the packet starts at the Ethernet header; `ctx` is an optional struct __sk_buff.
   */
  testRun(o: { data: Buffer; ctx?: Buffer; repeat?: number; dataOutSize?: number }): TestRunResult {
    const dataIn = Buffer.from(o.data);
    const dataOut = Buffer.alloc(o.dataOutSize ?? dataIn.length + 512);
    const ctxIn = o.ctx ? Buffer.from(o.ctx) : undefined;
    const ctxOut = o.ctx ? Buffer.alloc(o.ctx.length) : undefined;
    const attr = new Attr()
      .u32(0, this.fd)
      .u32(8, dataIn.length)
      .u32(12, dataOut.length)
      .ptr(16, addressOf(dataIn))
      .ptr(24, addressOf(dataOut))
      .u32(32, o.repeat ?? 1);
    if (ctxIn && ctxOut) attr.u32(40, ctxIn.length).u32(44, ctxOut.length).ptr(48, addressOf(ctxIn)).ptr(56, addressOf(ctxOut));
    const r = bpf(BpfCmd.PROG_TEST_RUN, attr);
    if (r < 0) {
      throw kernelError('EBPF_PROG_TEST_RUN', `test run of program ${this.name}`, -r, {
        ...(-r === os.constants.errno.ENOSPC ? { hint: 'the output packet is larger than dataOutSize: raise it' } : {}),
        ...(-r === os.constants.errno.EINVAL ? { hint: 'the packet is too short for this program type (tc needs >= 14 bytes), or ctx is malformed' } : {}),
      });
    }
    const outSize = attr.getU32(12);
    return {
      retval: attr.getU32(4),
      data: Buffer.from(dataOut.subarray(0, Math.min(outSize, dataOut.length))),
      ctx: ctxOut ? Buffer.from(ctxOut.subarray(0, attr.getU32(44))) : undefined,
      durationNs: attr.getU32(36),
    };
  }

  /** Pin the program at `path` on a bpffs. */
  pin(path: string): void {
    const p = cString(path);
    const r = bpf(BpfCmd.OBJ_PIN, new Attr().ptr(0, p.addr).u32(8, this.fd));
    if (r < 0) throw kernelError('EBPF_PIN', `pin program ${this.name} at ${path}`, -r);
  }

  /** Open a pinned program (owns its fd: close() it). */
  static fromPinned(path: string): BpfProgram {
    const p = cString(path);
    const fd = bpf(BpfCmd.OBJ_GET, new Attr().ptr(0, p.addr));
    if (fd < 0) throw kernelError('EBPF_OBJ_GET', `open pinned program ${path}`, -fd);
    return BpfProgram.fromFd(fd, true);
  }

  /** Open a program by kernel id (BPF_PROG_GET_FD_BY_ID; owns its fd). */
  static fromId(id: number): BpfProgram {
    const fd = bpf(BpfCmd.PROG_GET_FD_BY_ID, new Attr().u32(0, id));
    if (fd < 0) throw kernelError('EBPF_OBJ_GET', `open program id ${id}`, -fd);
    return BpfProgram.fromFd(fd, true);
  }

  /** Describe a program fd with BPF_OBJ_GET_INFO_BY_FD. */
  static fromFd(fd: number, ownsFd: boolean): BpfProgram {
    const info = Buffer.alloc(80);
    const r = bpf(BpfCmd.OBJ_GET_INFO_BY_FD, new Attr().u32(0, fd).u32(4, info.length).ptr(8, addressOf(info)));
    if (r < 0) {
      if (ownsFd) closeSync(fd);
      throw kernelError('EBPF_OBJ_GET', `get info of program fd ${fd}`, -r);
    }
    const end = info.indexOf(0, 64);
    const name = info.toString('utf8', 64, end < 0 || end > 80 ? 80 : end);
    return new BpfProgram({ name, fd, type: info.readUInt32LE(0), section: '', id: info.readUInt32LE(4) }, ownsFd);
  }

  /** Kernel program id (BPF_OBJ_GET_INFO_BY_FD), e.g. to compare with tcQuery(). */
  get id(): number {
    if (this._id === undefined) {
      const info = Buffer.alloc(80);
      const r = bpf(BpfCmd.OBJ_GET_INFO_BY_FD, new Attr().u32(0, this.fd).u32(4, info.length).ptr(8, addressOf(info)));
      if (r < 0) throw kernelError('EBPF_OBJ_GET', `get info of program ${this.name}`, -r);
      this._id = info.readUInt32LE(4);
    }
    return this._id;
  }

  close(): void {
    if (this.ownsFd) closeSync(this.fd);
  }
}

export function notLoaded(what: string): BpfError {
  return new BpfError('EBPF_NOT_LOADED', `${what}: the object is not loaded`, { hint: 'call obj.load() first' });
}
