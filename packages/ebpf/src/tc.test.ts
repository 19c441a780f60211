import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from './bpf-object.js';
import { mountBpffs, unmountBpffs } from './bpffs.js';
import { u32, u64 } from './codec.js';
import { BpfError } from './errors.js';
import { probeKernel } from './probe.js';
import { RingBuffer } from './ring-buffer.js';
import { structCodec } from './codec.js';
import { tcAttach, tcDetach, tcQuery } from './tc.js';
import { compileTestObject, ifindexOf, inNetns, makeTmpDir, sh, shQuiet, suffix } from './testdata/fixture.js';
import path from 'node:path';

const run = promisify(execFile);
const testVal = structCodec({ packets: [0, u64], bytes: [8, u64] }, 16, 'test_val');

interface Rec {
  ifindex: number;
  len: number;
  saddr: string;
  daddr: string;
  magic: number;
  proto: number;
}
function decodeEvent(b: Buffer): Rec {
  const ip = (o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  return { ifindex: b.readUInt32LE(0), len: b.readUInt32LE(4), saddr: ip(8), daddr: ip(12), magic: b.readUInt32LE(16), proto: b[20]! };
}

async function ping(ns: string, ip: string, count: number): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.1', '-W', '1', ip]);
    return true;
  } catch {
    return false;
  }
}

describe('tc attach + ring buffer in a netns (real packets)', () => {
  const sfx = suffix();
  const nsA = `ebpf-a-${sfx}`;
  const nsB = `ebpf-b-${sfx}`;
  const vA = `eba${sfx}`;
  const vB = `ebb${sfx}`;
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  const ipA = `${net}.1`;
  const ipB = `${net}.2`;
  const tmp = makeTmpDir('cilium-ts-ebpf-tc');
  const bpffs = path.join(tmp.dir, 'bpffs');
  let objPath = '';
  let obj: BpfObject;
  let ifA = 0;

  beforeAll(() => {
    expect(probeKernel().schedCls).toBe(true);
    objPath = compileTestObject('test_prog', tmp.dir);
    mountBpffs(bpffs);
    obj = BpfObject.open(objPath, { pinRoot: bpffs });
    obj.load();
    sh('ip', ['netns', 'add', nsA]);
    sh('ip', ['netns', 'add', nsB]);
    sh('ip', ['link', 'add', vA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vB, 'netns', nsB]);
    sh('ip', ['-n', nsA, 'addr', 'add', `${ipA}/24`, 'dev', vA]);
    sh('ip', ['-n', nsB, 'addr', 'add', `${ipB}/24`, 'dev', vB]);
    for (const [ns, dev] of [
      [nsA, vA],
      [nsB, vB],
    ] as const) {
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ifA = inNetns(nsA, () => ifindexOf(vA));
  });

  afterAll(() => {
    obj?.close();
    shQuiet('ip', ['netns', 'del', nsA]);
    shQuiet('ip', ['netns', 'del', nsB]);
    try {
      unmountBpffs(bpffs);
    } finally {
      tmp.remove();
    }
  });

  it('counts packets and streams records through the ring buffer; detach stops it', async () => {
    const prog = obj.program('tc_count');
    const records: Rec[] = [];
    const rb = new RingBuffer(obj.map('test_events'), (b) => records.push(decodeEvent(b)), { intervalMs: 5 });
    rb.start();
    try {
      inNetns(nsA, () => {
        const r1 = tcAttach({ ifindex: ifA, direction: 'ingress', program: prog });
        const r2 = tcAttach({ ifindex: ifA, direction: 'egress', program: prog, priority: 2, handle: 7 });
        expect(r1).toEqual({ progId: prog.id, handle: 1, priority: 1 });
        expect(r2).toEqual({ progId: prog.id, handle: 7, priority: 2 });
        expect(tcQuery({ ifindex: ifA, direction: 'ingress' })).toEqual({ progId: prog.id });
        expect(tcQuery({ ifindex: ifA, direction: 'egress', priority: 2, handle: 7 })).toEqual({ progId: prog.id });
        expect(tcQuery({ ifindex: ifA, direction: 'egress' })).toBeUndefined();
      });
      // the attach happened in nsA only: the host has no such device
      expect(tcQuery({ ifindex: 999_999, direction: 'ingress' })).toBeUndefined();

      expect(await ping(nsA, ipB, 3)).toBe(true);
      const deadline = Date.now() + 2000;
      while (records.filter((r) => r.proto === 1).length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

      const icmp = records.filter((r) => r.proto === 1);
      expect(icmp.length).toBeGreaterThanOrEqual(6);
      expect(icmp.every((r) => r.magic === 7 && r.ifindex === ifA)).toBe(true);
      expect(icmp.some((r) => r.saddr === ipA && r.daddr === ipB)).toBe(true);
      expect(icmp.some((r) => r.saddr === ipB && r.daddr === ipA)).toBe(true);
      expect(rb.delivered).toBe(records.length);

      const counters = obj.map('test_pcpu').typedPerCpu(u32, testVal);
      const perCpu = counters.lookup(1)!;
      const packets = perCpu.reduce((n, v) => n + v.packets, 0n);
      const bytes = perCpu.reduce((n, v) => n + v.bytes, 0n);
      expect(packets).toBeGreaterThanOrEqual(6n);
      expect(bytes).toBeGreaterThanOrEqual(6n * 84n);

      // detach: no more records or counts
      inNetns(nsA, () => {
        expect(tcDetach({ ifindex: ifA, direction: 'ingress' })).toBe(true);
        expect(tcDetach({ ifindex: ifA, direction: 'egress', priority: 2, handle: 7 })).toBe(true);
        expect(tcDetach({ ifindex: ifA, direction: 'egress', priority: 2, handle: 7 })).toBe(false);
        expect(tcQuery({ ifindex: ifA, direction: 'ingress' })).toBeUndefined();
      });
      rb.consume();
      const before = records.length;
      expect(await ping(nsA, ipB, 2)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      rb.consume();
      expect(records.length).toBe(before);
      const after = counters.lookup(1)!.reduce((n, v) => n + v.packets, 0n);
      expect(after).toBe(packets);
    } finally {
      rb.stop();
      inNetns(nsA, () => {
        tcDetach({ ifindex: ifA, direction: 'ingress' });
        tcDetach({ ifindex: ifA, direction: 'egress', priority: 2, handle: 7 });
      });
    }
    expect(() => rb.consume()).toThrow(BpfError);
  });

  it('replace swaps the program in place: a rodata-configured dropper blocks ICMP', async () => {
    const dropper = BpfObject.open(objPath, { pinRoot: bpffs, rodata: { DROP_ICMP: true, MAGIC: 9 } });
    try {
      dropper.load();
      inNetns(nsA, () => {
        tcAttach({ ifindex: ifA, direction: 'egress', program: obj.program('tc_count') });
        // without replace, an existing filter at the same handle/priority is an error
        let err: unknown;
        try {
          tcAttach({ ifindex: ifA, direction: 'egress', program: dropper.program('tc_count'), replace: false });
        } catch (e) {
          err = e;
        }
        expect((err as BpfError).code).toBe('EBPF_TC_ATTACH');
        tcAttach({ ifindex: ifA, direction: 'egress', program: dropper.program('tc_count'), replace: true });
        expect(tcQuery({ ifindex: ifA, direction: 'egress' })?.progId).toBe(dropper.program('tc_count').id);
      });
      expect(await ping(nsA, ipB, 1)).toBe(false);
      inNetns(nsA, () => expect(tcDetach({ ifindex: ifA, direction: 'egress' })).toBe(true));
      expect(await ping(nsA, ipB, 1)).toBe(true);
    } finally {
      inNetns(nsA, () => tcDetach({ ifindex: ifA, direction: 'egress' }));
      dropper.close();
    }
  });

  it('explains a missing device', () => {
    let err: unknown;
    try {
      tcAttach({ ifindex: 999_999, direction: 'ingress', program: obj.program('tc_count') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).hint).toMatch(/netns|device/);
  });
});
