import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from './bpf-object.js';
import { BpfMap } from './bpf-map.js';
import { BpfError } from './errors.js';
import { isBpffs, mountBpffs, unmountBpffs } from './bpffs.js';
import { be16, bytes, ipv4, named, structCodec, u16, u32, u64 } from './codec.js';
import { MapType, nrPossibleCpus } from './sys.js';
import { compileTestObject, makeTmpDir } from './testdata/fixture.js';

const testKey = structCodec({ ip: [0, ipv4], port: [4, be16] }, 8, 'test_key');
const testVal = structCodec({ packets: [0, u64], bytes: [8, u64] }, 16, 'test_val');

function ethFrame(): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16BE(0x0800, 12);
  return b;
}

function expectBpfError(fn: () => unknown, code: string): BpfError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).code).toBe(code);
    expect((err as BpfError).hint).not.toBe('');
    return err as BpfError;
  }
  throw new Error(`expected BpfError ${code}`);
}

describe('BpfObject (real kernel)', () => {
  const tmp = makeTmpDir('cilium-ts-ebpf');
  const bpffs = path.join(tmp.dir, 'bpffs');
  let objPath = '';
  let badPath = '';
  let obj: BpfObject;

  beforeAll(() => {
    objPath = compileTestObject('test_prog', tmp.dir);
    badPath = compileTestObject('bad_prog', tmp.dir);
    mountBpffs(bpffs);
    obj = BpfObject.open(objPath, { pinRoot: bpffs });
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

  it('mounts a bpffs once (idempotent)', () => {
    expect(isBpffs(bpffs)).toBe(true);
    expect(isBpffs(tmp.dir)).toBe(false);
    mountBpffs(bpffs);
    expect(isBpffs(bpffs)).toBe(true);
  });

  it('finds programs and maps by name, with sizes, types and BTF names', () => {
    const prog = obj.program('tc_count');
    expect(prog.fd).toBeGreaterThan(0);
    expect(prog.section).toBe('tc');
    expect(prog.id).toBeGreaterThan(0);
    expect(obj.programNames().sort()).toEqual(['cg_connect4', 'tc_count', 'tc_magic']);

    const m = obj.map('test_hash');
    expect(m.fd).toBeGreaterThan(0);
    expect(m.type).toBe(MapType.HASH);
    expect(m.typeName).toBe('hash');
    expect(m.keySize).toBe(8);
    expect(m.valueSize).toBe(16);
    expect(m.maxEntries).toBe(4096);
    expect(m.btfKeyType).toBe('test_key');
    expect(m.btfValueType).toBe('test_val');
    expect(obj.map('test_lru').btfKeyType).toBe('__u32');
    expect(obj.map('test_events').type).toBe(MapType.RINGBUF);
    expect(obj.btfStructSize('test_val')).toBe(16);
    expect(obj.btfStructSize('no_such_struct')).toBeUndefined();
    const layout = obj.btfStruct('test_key');
    expect(layout?.size).toBe(8);
    expect(layout?.members.map((x) => [x.name, x.offset, x.size])).toEqual([
      ['ip', 0, 4],
      ['port', 4, 2],
      ['pad', 6, 2],
    ]);
  });

  it('throws coded errors for unknown programs and maps, and for bad files', () => {
    const e1 = expectBpfError(() => obj.program('nope'), 'EBPF_NO_PROGRAM');
    expect(e1.hint).toContain('tc_count');
    const e2 = expectBpfError(() => obj.map('nope'), 'EBPF_NO_MAP');
    expect(e2.hint).toContain('test_hash');
    expectBpfError(() => BpfObject.open(path.join(tmp.dir, 'missing.o')), 'EBPF_OPEN');
    expectBpfError(() => BpfObject.open(path.join(tmp.dir, '..', path.basename(tmp.dir), 'bpffs')), 'EBPF_OPEN');
  });

  it('puts the verifier log into EBPF_LOAD errors', () => {
    const bad = BpfObject.open(badPath);
    try {
      const e = expectBpfError(() => bad.load(), 'EBPF_LOAD');
      expect(e.errno).toBeGreaterThan(0);
      expect(e.message).toMatch(/invalid access to packet|R\d+ /);
      expect(e.log).toBeDefined();
    } finally {
      bad.close();
    }
  });

  it('hash map: update, lookup, delete, flags, iteration', () => {
    const m = obj.map('test_hash').typed(testKey, testVal);
    const k = { ip: '10.0.0.1', port: 80 };
    expect(m.lookup(k)).toBeUndefined();
    m.update(k, { packets: 1n, bytes: 100n });
    expect(m.lookup(k)).toEqual({ packets: 1n, bytes: 100n });
    expectBpfError(() => m.update(k, { packets: 2n, bytes: 2n }, 'noexist'), 'EBPF_MAP_UPDATE');
    m.update(k, { packets: 2n, bytes: 200n }, 'exist');
    expect(m.lookup(k)?.bytes).toBe(200n);
    expectBpfError(() => m.update({ ip: '10.0.0.2', port: 1 }, { packets: 0n, bytes: 0n }, 'exist'), 'EBPF_MAP_UPDATE');
    m.update({ ip: '10.0.0.3', port: 443 }, { packets: 3n, bytes: 300n });
    const all = new Map([...m.entries()].map(([key, v]) => [`${key.ip}:${key.port}`, v.packets]));
    expect(all).toEqual(
      new Map([
        ['10.0.0.1:80', 2n],
        ['10.0.0.3:443', 3n],
      ]),
    );
    expect([...m.keys()].length).toBe(2);
    expect(m.delete(k)).toBe(true);
    expect(m.delete(k)).toBe(false);
    expect(m.clear()).toBe(1);
    expect([...m.keys()]).toEqual([]);

    // the key is stored in network order, as in the packet
    const raw = obj.map('test_hash').typed(bytes(8), bytes(16));
    m.update({ ip: '192.168.1.2', port: 0x1234 }, { packets: 0n, bytes: 0n });
    expect([...raw.keys()][0]!.toString('hex')).toBe('c0a8010212340000');
    m.clear();
  });

  it('batch ops: update, lookup and delete many entries in few syscalls', () => {
    const m = obj.map('test_hash').typed(testKey, testVal);
    const entries: Array<[{ ip: string; port: number }, { packets: bigint; bytes: bigint }]> = [];
    for (let i = 0; i < 3000; i++) entries.push([{ ip: `10.1.${i >> 8}.${i & 255}`, port: i }, { packets: BigInt(i), bytes: BigInt(i * 10) }]);
    m.updateBatch(entries);
    const got = m.lookupBatch();
    expect(got.length).toBe(3000);
    const byPort = new Map(got.map(([k, v]) => [k.port, v]));
    expect(byPort.get(2999)).toEqual({ packets: 2999n, bytes: 29990n });
    expect(m.lookup({ ip: '10.1.0.7', port: 7 })).toEqual({ packets: 7n, bytes: 70n });
    // deleting keys of which some are absent deletes the present ones
    const del = entries.slice(0, 1000).map(([k]) => k);
    del.splice(500, 0, { ip: '172.16.0.1', port: 1 });
    expect(m.deleteBatch(del)).toBe(1000);
    expect(m.lookupBatch().length).toBe(2000);
    expect(m.deleteBatch(entries.map(([k]) => k))).toBe(2000);
    expect(m.lookupBatch()).toEqual([]);
  });

  it('LRU hash and array maps: batch where supported, fallback otherwise', () => {
    const lru = obj.map('test_lru').typed(u32, u64);
    lru.updateBatch([
      [1, 10n],
      [2, 20n],
    ]);
    expect(new Map(lru.lookupBatch())).toEqual(
      new Map([
        [1, 10n],
        [2, 20n],
      ]),
    );
    expect(lru.deleteBatch([1, 2, 3])).toBe(2);

    const arr = obj.map('test_array').typed(u32, u64);
    arr.update(3, 33n);
    const all = arr.lookupBatch();
    expect(all.length).toBe(16);
    expect(all[3]).toEqual([3, 33n]);
    // arrays cannot delete: the error names the map
    const e = expectBpfError(() => arr.deleteBatch([3]), 'EBPF_MAP_DELETE');
    expect(e.message).toContain('test_array');
    arr.update(3, 0n);
  });

  it('per-CPU maps: one value per possible CPU', () => {
    const n = nrPossibleCpus();
    expect(n).toBeGreaterThan(0);
    const raw = obj.map('test_pcpu');
    expectBpfError(() => raw.typed(u32, testVal), 'EBPF_MAP_TYPE');
    const m = raw.typedPerCpu(u32, testVal);
    const vals = Array.from({ length: n }, (_, i) => ({ packets: BigInt(i + 1), bytes: BigInt(100 * (i + 1)) }));
    m.update(6, vals);
    expect(m.lookup(6)).toEqual(vals);
    m.updateBatch([[17, vals]]);
    const all = new Map(m.lookupBatch());
    expect(all.get(17)).toEqual(vals);
    expect(m.deleteBatch([6, 17])).toBe(2);
    expectBpfError(() => obj.map('test_hash').typedPerCpu(testKey, testVal), 'EBPF_MAP_TYPE');
  });

  it('checks codec sizes and BTF type names (EBPF_CODEC_SIZE / EBPF_CODEC_TYPE)', () => {
    const m = obj.map('test_hash');
    const e = expectBpfError(() => m.typed(u32, testVal), 'EBPF_CODEC_SIZE');
    expect(e.message).toContain('test_hash');
    expect(e.message).toContain('test_key');
    expectBpfError(() => m.typed(testKey, structCodec({ packets: [0, u64] }, 8)), 'EBPF_CODEC_SIZE');
    expectBpfError(() => m.typed(named(bytes(8), 'other_key'), testVal), 'EBPF_CODEC_TYPE');
    expect(() => m.typed(named(bytes(8), 'test_key'), testVal)).not.toThrow();
    expectBpfError(() => obj.map('test_events').typed(u32, u32), 'EBPF_MAP_TYPE');
    expectBpfError(() => structCodec({ a: [6, u32] }, 8), 'EBPF_CODEC_SIZE');
    expectBpfError(() => structCodec({ a: [0, u32], b: [2, u16] }, 8), 'EBPF_CODEC_SIZE');
  });

  it('rodata globals set before load change behaviour', () => {
    expect(obj.program('tc_magic').testRun({ data: ethFrame() }).retval).toBe(7);
    const other = BpfObject.open(objPath, { pinRoot: bpffs, rodata: { MAGIC: 41, SIGNED_VAL: -2 } });
    try {
      expect(other.rodataVars().map((v) => v.name).sort()).toEqual(['DROP_ICMP', 'MAGIC', 'SIGNED_VAL']);
      other.load();
      expect(other.program('tc_magic').testRun({ data: ethFrame() }).retval).toBe(40);
      expectBpfError(() => other.setRodata({ MAGIC: 1 }), 'EBPF_RODATA');
    } finally {
      other.close();
    }
    const check = (values: Record<string, number | bigint | boolean>) => {
      let o: BpfObject | undefined;
      try {
        o = BpfObject.open(objPath, { pinRoot: bpffs, rodata: values });
      } finally {
        o?.close();
      }
    };
    const e = expectBpfError(() => check({ NOPE: 1 }), 'EBPF_RODATA');
    expect(e.hint).toContain('MAGIC');
    expectBpfError(() => check({ DROP_ICMP: 256 }), 'EBPF_RODATA');
    expectBpfError(() => check({ MAGIC: -1 }), 'EBPF_RODATA');
    expect(() => check({ DROP_ICMP: true, SIGNED_VAL: -5, MAGIC: 0xffffffff })).not.toThrow();
  });

  it('pins by name under pinRoot; a reopened object reuses the pinned map (data survives)', () => {
    const pinned = path.join(bpffs, 'test_pinned');
    expect(obj.mapPinPath('test_pinned')).toBe(pinned);
    const m = obj.map('test_pinned').typed(u32, u32);
    m.update(1, 1111);

    const again = BpfObject.open(objPath, { pinRoot: bpffs });
    try {
      again.load();
      expect(again.map('test_pinned').typed(u32, u32).lookup(1)).toBe(1111);
      // unpinned maps are per object
      obj.map('test_hash').typed(testKey, testVal).update({ ip: '1.2.3.4', port: 5 }, { packets: 1n, bytes: 1n });
      expect(again.map('test_hash').typed(testKey, testVal).lookup({ ip: '1.2.3.4', port: 5 })).toBeUndefined();
      obj.map('test_hash').typed(testKey, testVal).clear();
    } finally {
      again.close();
    }

    const fromPin = BpfMap.fromPinned(pinned);
    try {
      expect(fromPin.name).toBe('test_pinned');
      expect(fromPin.type).toBe(MapType.HASH);
      expect(fromPin.keySize).toBe(4);
      expect(fromPin.btfKeyType).toBe('__u32');
      const t = fromPin.typed(u32, u32);
      expect(t.lookup(1)).toBe(1111);
      t.update(2, 2222);
      expect(m.lookup(2)).toBe(2222);
    } finally {
      fromPin.close();
    }
  });

  it('a stale pin with another definition fails the load with a hint', () => {
    const root = path.join(bpffs, 'stale');
    mkdirSync(root, { recursive: true });
    const stale = path.join(root, 'test_pinned');
    obj.map('test_lru').pin(stale); // LRU u32 -> u64: not what test_pinned declares
    const o = BpfObject.open(objPath, { pinRoot: root });
    try {
      const e = expectBpfError(() => o.load(), 'EBPF_LOAD');
      expect(e.hint).toContain('stale pin');
      expect(e.message).toContain('test_pinned');
    } finally {
      o.close();
      obj.map('test_lru').unpin(stale);
    }
    const fresh = BpfObject.open(objPath, { pinRoot: root });
    try {
      fresh.load();
      const byId = BpfMap.fromId(fresh.map('test_pinned').id);
      expect(byId.name).toBe('test_pinned');
      expect(byId.btfValueType).toBe('__u32');
      byId.close();
    } finally {
      fresh.close();
    }
  });

  it('pins and unpins explicitly; opening a missing pin is EBPF_OBJ_GET', () => {
    const dir = path.join(bpffs, 'manual');
    mkdirSync(dir, { recursive: true });
    const p = path.join(dir, 'hash');
    const map = obj.map('test_lru');
    map.pin(p);
    expectBpfError(() => map.pin(p), 'EBPF_PIN');
    const back = BpfMap.fromPinned(p);
    expect(back.maxEntries).toBe(128);
    back.close();
    map.unpin(p);
    map.unpin(p);
    expectBpfError(() => BpfMap.fromPinned(p), 'EBPF_OBJ_GET');
    const notBpffs = expectBpfError(() => map.pin(path.join(tmp.dir, 'x')), 'EBPF_PIN');
    expect(notBpffs.hint).toContain('mountBpffs');
  });
});
