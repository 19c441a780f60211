import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from './bpf-object.js';
import { mountBpffs, unmountBpffs } from './bpffs.js';
import { BpfError } from './errors.js';
import { probeKernel } from './probe.js';
import { RingBuffer } from './ring-buffer.js';
import { compileTestObject, makeTmpDir } from './testdata/fixture.js';

/** Ethernet + IPv4 (UDP) frame from 10.9.8.7 to 10.6.5.4. */
function ipv4Frame(): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(50, 16);
  b[22] = 64;
  b[23] = 17;
  Buffer.from([10, 9, 8, 7, 10, 6, 5, 4]).copy(b, 26);
  return b;
}

describe.each(['mmap', 'libbpf'] as const)('RingBuffer, %s reader (records produced by BPF_PROG_TEST_RUN)', (reader) => {
  const tmp = makeTmpDir('cilium-ts-ebpf-rb');
  const bpffs = path.join(tmp.dir, 'bpffs');
  let obj: BpfObject;

  beforeAll(() => {
    expect(probeKernel().ringbuf).toBe(true);
    mountBpffs(bpffs);
    obj = BpfObject.open(compileTestObject('test_prog', tmp.dir), { pinRoot: bpffs, rodata: { MAGIC: 1234 } });
    obj.load();
  });

  afterAll(() => {
    obj?.close();
    try {
      unmountBpffs(bpffs);
    } finally {
      tmp.remove();
    }
  });

  it('delivers every record as a Buffer copy, from a timer that does not block the loop', async () => {
    const got: Buffer[] = [];
    const rb = new RingBuffer(obj.map('test_events'), (b) => got.push(b), { reader });
    rb.start();
    rb.start();
    try {
      const res = obj.program('tc_count').testRun({ data: ipv4Frame(), repeat: 5000 });
      expect(res.retval).toBe(0);
      const deadline = Date.now() + 3000;
      while (got.length < 5000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(got.length).toBe(5000);
      const first = got[0]!;
      expect(first.length).toBe(24);
      expect([...first.subarray(8, 16)]).toEqual([10, 9, 8, 7, 10, 6, 5, 4]);
      expect(first.readUInt32LE(16)).toBe(1234);
      expect(first[20]).toBe(17);
      expect(got.every((b) => b.equals(first))).toBe(true);
    } finally {
      rb.stop();
      rb.stop();
    }
  });

  it('epoll wake-up delivers records without a timer', async () => {
    const got: Buffer[] = [];
    const rb = new RingBuffer(obj.map('test_events'), (b) => got.push(b), { wakeup: 'epoll', reader });
    rb.start();
    try {
      for (let i = 0; i < 3; i++) {
        obj.program('tc_count').testRun({ data: ipv4Frame(), repeat: 100 });
        const want = (i + 1) * 100;
        const deadline = Date.now() + 2000;
        while (got.length < want && Date.now() < deadline) await new Promise((r) => setImmediate(r));
        expect(got.length).toBe(want);
      }
    } finally {
      rb.stop();
    }
  });

  it('consume() without a timer; errors thrown by onRecord surface from consume()', () => {
    let n = 0;
    const rb = new RingBuffer(
      obj.map('test_events').fd,
      () => {
        n++;
        if (n === 2) throw new Error('bad record');
      },
      { reader },
    );
    try {
      expect(rb.consume()).toBe(0);
      obj.program('tc_count').testRun({ data: ipv4Frame(), repeat: 3 });
      expect(() => rb.consume()).toThrow('bad record');
      expect(n).toBe(3);
      expect(rb.consume()).toBe(0);
    } finally {
      rb.stop();
    }
  });

  it('timer mode reports handler errors to onError', async () => {
    const errors: unknown[] = [];
    const rb = new RingBuffer(
      obj.map('test_events'),
      () => {
        throw new Error('boom');
      },
      { intervalMs: 1, onError: (e) => errors.push(e), reader },
    );
    rb.start();
    try {
      obj.program('tc_count').testRun({ data: ipv4Frame() });
      const deadline = Date.now() + 2000;
      while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect((errors[0] as Error).message).toBe('boom');
    } finally {
      rb.stop();
    }
  });

  it('refuses maps that are not ring buffers', () => {
    expect(() => new RingBuffer(obj.map('test_hash'), () => {}, { reader })).toThrow(BpfError);
    expect(() => new RingBuffer(obj.map('test_hash').fd, () => {}, { reader })).toThrow(/ring buffer|ringbuf/);
  });
});
