// bpf_host.o on the node devices (--devices): cil_from_netdev on tc ingress, cil_to_netdev on tc egress,
// for NodePort / ExternalIPs / LoadBalancer traffic from outside the node. Loaded on the same pinned maps
// as bpf_lxc.o; attached with replace (handle 1, priority 1), so a restarted agent never leaves a device
// unprogrammed; left attached when the agent stops.
import { existsSync } from 'node:fs';
import { BpfObject, tcAttach, tcDetach } from '@cilium-ts/ebpf';
import { AgentError } from '../errors.js';

export const PROG_FROM_NETDEV = 'cil_from_netdev';
export const PROG_TO_NETDEV = 'cil_to_netdev';
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

export interface HostLbOptions {
  objectPath: string;
  pinDir: string;
  rodata: Record<string, number>;
}

export class HostLb {
  #obj: BpfObject | undefined;
  readonly #devices = new Map<string, number>();

  constructor(private readonly opts: HostLbOptions) {}

  get available(): boolean {
    return existsSync(this.opts.objectPath);
  }

  /** Loads bpf_host.o (once) and attaches both programs to each device (name -> ifindex). */
  attach(devices: Array<{ name: string; ifindex: number }>): void {
    if (!this.#obj) {
      if (!existsSync(this.opts.objectPath)) {
        throw new AgentError('DATAPATH_OBJECT_MISSING', `datapath object ${this.opts.objectPath} not found`, 'run `make build` (it compiles bpf/ with clang), pass --bpf-dir, or turn NodePort off');
      }
      const obj = BpfObject.open(this.opts.objectPath, { pinRoot: this.opts.pinDir });
      try {
        const known = new Set(obj.rodataVars().map((v) => v.name));
        const rodata = Object.fromEntries(Object.entries(this.opts.rodata).filter(([k]) => known.has(k)));
        if (Object.keys(rodata).length > 0) obj.setRodata(rodata);
        obj.load();
      } catch (e) {
        obj.close();
        throw e;
      }
      this.#obj = obj;
    }
    const obj = this.#obj;
    for (const d of devices) {
      tcAttach({ ifindex: d.ifindex, direction: 'ingress', program: obj.program(PROG_FROM_NETDEV), handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
      tcAttach({ ifindex: d.ifindex, direction: 'egress', program: obj.program(PROG_TO_NETDEV), handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
      this.#devices.set(d.name, d.ifindex);
    }
  }

  get devices(): string[] {
    return [...this.#devices.keys()];
  }

  detach(): void {
    for (const ifindex of this.#devices.values()) {
      for (const direction of ['ingress', 'egress'] as const) {
        try {
          tcDetach({ ifindex, direction, handle: TC_HANDLE, priority: TC_PRIORITY });
        } catch {
          // the device is gone, and its filters with it
        }
      }
    }
    this.#devices.clear();
  }

  close(): void {
    this.#obj?.close();
    this.#obj = undefined;
  }
}
