// Socket LB: bpf_sock.o's four cgroup sock_addr programs on --cgroup-root. Loaded on the same pinned maps
// as bpf_lxc.o. Attachments are not links: they outlive the agent (as Cilium's), and a restarted agent
// attaches its fresh programs, then detaches the previous agent's (found by name), so there is never a
// moment without socket LB and never two copies left behind.
import { existsSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, BpfProgram, cgroupAttach, cgroupDetach, cgroupQuery, type CgroupAttachTypeName } from '@cilium-ts/ebpf';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';

export const SOCK_PROGRAMS: ReadonlyArray<readonly [string, CgroupAttachTypeName]> = [
  ['cil_sock4_connect', 'cgroup_inet4_connect'],
  ['cil_sock4_sendmsg', 'cgroup_udp4_sendmsg'],
  ['cil_sock4_recvmsg', 'cgroup_udp4_recvmsg'],
  ['cil_sock4_getpeername', 'cgroup_inet4_getpeername'],
];

const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Why `dir` cannot take the socket LB, or undefined when it can: it must be a cgroup2 directory below the
 * root of the hierarchy (the root would put every process of the machine under our programs).
 */
export function cgroupRootProblem(dir: string): string | undefined {
  if (!existsSync(dir)) return `${dir} does not exist`;
  let type: number;
  try {
    type = statfsSync(dir).type;
  } catch (e) {
    return `cannot statfs ${dir}: ${(e as Error).message}`;
  }
  if (type !== CGROUP2_SUPER_MAGIC) return `${dir} is not a cgroup2 directory`;
  // cgroup.events exists in every cgroup but the root of the hierarchy
  if (!existsSync(join(dir, 'cgroup.events'))) return `${dir} is the root of the cgroup2 hierarchy (the whole machine)`;
  return undefined;
}

export interface SocketLbOptions {
  objectPath: string;
  pinDir: string;
  cgroupRoot: string;
  rodata: Record<string, number>;
  log: Logger;
}

export class SocketLb {
  #obj: BpfObject | undefined;
  #attached = false;

  constructor(private readonly opts: SocketLbOptions) {}

  get cgroupRoot(): string {
    return this.opts.cgroupRoot;
  }

  /** Loads bpf_sock.o and attaches its programs to the cgroup root (idempotent across agent restarts). */
  attach(): { replaced: number } {
    const { objectPath, pinDir, cgroupRoot, log } = this.opts;
    const problem = cgroupRootProblem(cgroupRoot);
    if (problem) throw new AgentError('SOCKET_LB_CGROUP', `socket LB: ${problem}`, 'pass --cgroup-root with a cgroup2 subdirectory (e.g. /sys/fs/cgroup/unified/<node>)', 500);
    if (!existsSync(objectPath)) throw new AgentError('DATAPATH_OBJECT_MISSING', `datapath object ${objectPath} not found`, 'run `make build` (it compiles bpf/ with clang) or pass --bpf-dir');
    const obj = BpfObject.open(objectPath, { pinRoot: pinDir });
    let replaced = 0;
    try {
      const known = new Set(obj.rodataVars().map((v) => v.name));
      const rodata = Object.fromEntries(Object.entries(this.opts.rodata).filter(([k]) => known.has(k)));
      if (Object.keys(rodata).length > 0) obj.setRodata(rodata);
      obj.load();
      for (const [name, type] of SOCK_PROGRAMS) {
        const prog = obj.program(name);
        cgroupAttach(cgroupRoot, prog, type, { mode: 'multi' });
        const mine = prog.id;
        const kernelName = BpfProgram.fromId(mine);
        const kname = kernelName.name;
        kernelName.close();
        for (const id of cgroupQuery(cgroupRoot, type)) {
          if (id === mine) continue;
          let old: BpfProgram | undefined;
          try {
            old = BpfProgram.fromId(id);
            if (old.name === kname && cgroupDetach(cgroupRoot, old, type)) replaced++;
          } catch (e) {
            log.warn({ id, err: (e as Error).message }, 'socket LB: cannot inspect a program attached before us');
          } finally {
            old?.close();
          }
        }
      }
    } catch (e) {
      obj.close();
      throw e;
    }
    this.#obj = obj;
    this.#attached = true;
    log.info({ cgroupRoot, replaced }, 'socket LB attached');
    return { replaced };
  }

  /** Attached program ids per attach type (for status and tests). */
  query(): Record<string, number[]> {
    return Object.fromEntries(SOCK_PROGRAMS.map(([, t]) => [t, cgroupQuery(this.opts.cgroupRoot, t)]));
  }

  /** Detaches our programs from the cgroup root. */
  detach(): void {
    const obj = this.#obj;
    if (!obj || !this.#attached) return;
    for (const [name, type] of SOCK_PROGRAMS) {
      try {
        cgroupDetach(this.opts.cgroupRoot, obj.program(name), type);
      } catch (e) {
        this.opts.log.warn({ program: name, err: (e as Error).message }, 'socket LB: detach failed');
      }
    }
    this.#attached = false;
  }

  /** Closes our handles; the programs stay attached (unless detach() was called). */
  close(): void {
    this.#obj?.close();
    this.#obj = undefined;
  }
}
