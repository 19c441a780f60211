/**
 * A BPF ELF object opened and loaded by libbpf: programs, maps, read-only globals (`const volatile`),
 * pinning by name under a bpffs root.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { btfDatasecVars, btfStructLayout, btfResolveSize, BtfKind, type BtfStructLayout, type DatasecVar } from './btf.js';
import { BpfError, kernelError } from './errors.js';
import { logMark, logSince } from './libbpf-log.js';
import { BpfMap, describeLibbpfMap } from './bpf-map.js';
import { BpfProgram, notLoaded } from './bpf-program.js';
import { addressOf, lastErrno, libbpf, viewOf, type Ptr } from './native.js';

export type RodataValue = number | bigint | boolean;

export interface BpfObjectOpenOptions {
  /** libbpf pin_root_path: maps declared with LIBBPF_PIN_BY_NAME are reused from / pinned there. */
  pinRoot?: string;
  /** Values for `const volatile` globals (.rodata), set before load; names and sizes checked against BTF. */
  rodata?: Record<string, RodataValue>;
  /** Object name (default: the file's base name). */
  name?: string;
}

const OPEN_OPTS_SIZE = 80; // sizeof(struct bpf_object_open_opts), libbpf 1.1 (x86_64)

export class BpfObject {
  readonly path: string;
  readonly pinRoot: string | undefined;
  private obj: Ptr | null;
  private loaded = false;
  private readonly maps = new Map<string, BpfMap>();
  private readonly programs = new Map<string, BpfProgram>();

  private constructor(path: string, obj: Ptr, pinRoot: string | undefined) {
    this.path = path;
    this.obj = obj;
    this.pinRoot = pinRoot;
  }

  /** Open (parse) an object file; nothing is created in the kernel until load(). */
  static open(path: string, opts: BpfObjectOpenOptions = {}): BpfObject {
    if (!existsSync(path)) {
      throw new BpfError('EBPF_OPEN', `open BPF object ${path}: no such file`, {
        errno: os.constants.errno.ENOENT,
        hint: 'build it first (make -C bpf) or fix the path',
      });
    }
    const lib = libbpf();
    const keep: Buffer[] = [];
    const str = (s: string) => {
      const b = Buffer.from(`${s}\0`);
      keep.push(b);
      return addressOf(b);
    };
    const o = Buffer.alloc(OPEN_OPTS_SIZE);
    o.writeBigUInt64LE(BigInt(OPEN_OPTS_SIZE), 0);
    if (opts.name !== undefined) o.writeBigUInt64LE(BigInt(str(opts.name)), 8);
    if (opts.pinRoot !== undefined) o.writeBigUInt64LE(BigInt(str(opts.pinRoot)), 24);
    const mark = logMark();
    const obj = lib.bpf_object__open_file(path, o);
    const errno = lastErrno();
    keep.length = 0;
    if (!obj) {
      throw kernelError('EBPF_OPEN', `open BPF object ${path}`, errno || os.constants.errno.EINVAL, {
        hint: 'is it an ELF object built with clang -target bpf -g (with BTF)?',
        log: logSince(mark),
      });
    }
    const self = new BpfObject(path, obj, opts.pinRoot);
    try {
      if (opts.rodata) self.setRodata(opts.rodata);
    } catch (err) {
      self.close();
      throw err;
    }
    return self;
  }

  private handle(what: string): Ptr {
    if (!this.obj) throw new BpfError('EBPF_CLOSED', `${what}: object ${this.path} is closed`, { hint: 'open it again' });
    return this.obj;
  }

  /** Variables of .rodata (name, offset, size) from BTF. */
  rodataVars(): DatasecVar[] {
    const btf = libbpf().bpf_object__btf(this.handle('read .rodata'));
    if (!btf) return [];
    return btfDatasecVars(btf, '.rodata') ?? [];
  }

  /** Set `const volatile` globals before load(). Unknown names and values that do not fit throw EBPF_RODATA. */
  setRodata(values: Record<string, RodataValue>): void {
    const obj = this.handle('set .rodata');
    if (this.loaded) {
      throw new BpfError('EBPF_RODATA', `set .rodata of ${this.path}: already loaded (.rodata is frozen)`, {
        hint: 'pass rodata to BpfObject.open() or call setRodata() before load()',
      });
    }
    const lib = libbpf();
    const entries = Object.entries(values);
    if (entries.length === 0) return;
    const map = lib.bpf_object__find_map_by_name(obj, '.rodata');
    const vars = this.rodataVars();
    if (!map || vars.length === 0) {
      throw new BpfError('EBPF_RODATA', `set .rodata of ${this.path}: the object has no .rodata globals`, {
        hint: 'declare them as `const volatile <type> NAME = <default>;` and compile with -g',
      });
    }
    const psize: [number] = [0];
    const ptr = lib.bpf_map__initial_value(map, psize);
    if (!ptr) throw new BpfError('EBPF_RODATA', `set .rodata of ${this.path}: no initial value`, { hint: 'libbpf could not map .rodata' });
    const data = viewOf(ptr, psize[0]);
    const btf = lib.bpf_object__btf(obj);
    for (const [name, value] of entries) {
      const v = vars.find((x) => x.name === name);
      if (!v) {
        throw new BpfError('EBPF_RODATA', `set .rodata ${name} of ${this.path}: no such global`, {
          hint: `known: ${vars.map((x) => x.name).join(', ') || '(none)'}`,
        });
      }
      const size = v.size;
      if (![1, 2, 4, 8].includes(size) || v.offset + size > data.length) {
        throw new BpfError('EBPF_RODATA', `set .rodata ${name}: ${size}-byte globals are not settable from a number`, {
          hint: 'use an integer type (__u8/__u16/__u32/__u64 or signed)',
        });
      }
      const signed = btf ? isSignedInt(btf, v.typeId) : false;
      let big = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
      const bits = BigInt(size * 8);
      const min = signed ? -(1n << (bits - 1n)) : 0n;
      const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      if ((typeof value === 'number' && !Number.isInteger(value)) || big < min || big > max) {
        throw new BpfError('EBPF_RODATA', `set .rodata ${name}: ${String(value)} does not fit in a ${signed ? 'signed' : 'unsigned'} ${size}-byte global`, {
          hint: `use a value in [${min}, ${max}]`,
        });
      }
      if (big < 0n) big += 1n << bits;
      for (let i = 0; i < size; i++) data[v.offset + i] = Number((big >> BigInt(8 * i)) & 0xffn);
    }
  }

  /** Create maps (reusing pinned ones), load and verify programs. Verifier output is in the error. */
  load(): void {
    const obj = this.handle('load');
    if (this.loaded) return;
    const mark = logMark();
    const r = libbpf().bpf_object__load(obj);
    if (r < 0) {
      const errno = -r;
      const log = logSince(mark);
      let hint = 'read the libbpf/verifier log in this error';
      if (/couldn't reuse pinned map|pinned map .* mismatch|reuse/i.test(log)) {
        hint = `a map pinned under ${this.pinRoot ?? '/sys/fs/bpf'} has a different definition: remove the stale pin (or change the pin root)`;
      } else if (errno === os.constants.errno.EACCES || errno === os.constants.errno.EINVAL) {
        hint = 'the verifier rejected a program: its log is below (last lines say why)';
      }
      throw kernelError('EBPF_LOAD', `load BPF object ${this.path}`, errno, { hint, log });
    }
    this.loaded = true;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Names of the programs (C function names). */
  programNames(): string[] {
    const lib = libbpf();
    const obj = this.handle('list programs');
    const out: string[] = [];
    for (let p = lib.bpf_object__next_program(obj, null); p; p = lib.bpf_object__next_program(obj, p)) out.push(lib.bpf_program__name(p));
    return out;
  }

  /** Names of the maps (including internal ones such as '.rodata'). */
  mapNames(): string[] {
    const lib = libbpf();
    const obj = this.handle('list maps');
    const out: string[] = [];
    for (let m = lib.bpf_object__next_map(obj, null); m; m = lib.bpf_object__next_map(obj, m)) out.push(lib.bpf_map__name(m));
    return out;
  }

  /** A loaded program by its C function name (EBPF_NO_PROGRAM if absent). */
  program(name: string): BpfProgram {
    const cached = this.programs.get(name);
    if (cached) return cached;
    const lib = libbpf();
    const obj = this.handle(`program ${name}`);
    const p = lib.bpf_object__find_program_by_name(obj, name);
    if (!p) {
      throw new BpfError('EBPF_NO_PROGRAM', `no program ${name} in ${this.path}`, { hint: `programs: ${this.programNames().join(', ') || '(none)'}` });
    }
    if (!this.loaded) throw notLoaded(`program ${name}`);
    const fd = lib.bpf_program__fd(p);
    if (fd < 0) throw kernelError('EBPF_NOT_LOADED', `program ${name} of ${this.path} has no fd (autoload off?)`, -fd);
    const prog = new BpfProgram({ name, fd, type: lib.bpf_program__type(p), section: lib.bpf_program__section_name(p) });
    this.programs.set(name, prog);
    return prog;
  }

  /** A map by name (EBPF_NO_MAP if absent). Owned by the object: valid until close(). */
  map(name: string): BpfMap {
    const cached = this.maps.get(name);
    if (cached) return cached;
    const lib = libbpf();
    const obj = this.handle(`map ${name}`);
    const m = lib.bpf_object__find_map_by_name(obj, name);
    if (!m) throw new BpfError('EBPF_NO_MAP', `no map ${name} in ${this.path}`, { hint: `maps: ${this.mapNames().join(', ') || '(none)'}` });
    if (!this.loaded) throw notLoaded(`map ${name}`);
    const d = describeLibbpfMap(m, lib.bpf_object__btf(obj));
    if (d.fd < 0) throw kernelError('EBPF_NOT_LOADED', `map ${name} of ${this.path} has no fd`, -d.fd);
    const map = new BpfMap(d, false);
    this.maps.set(name, map);
    return map;
  }

  /** Pin path libbpf uses for a map (LIBBPF_PIN_BY_NAME maps), if any. */
  mapPinPath(name: string): string | undefined {
    const lib = libbpf();
    const m = lib.bpf_object__find_map_by_name(this.handle(`map ${name}`), name);
    if (!m) throw new BpfError('EBPF_NO_MAP', `no map ${name} in ${this.path}`, { hint: `maps: ${this.mapNames().join(', ')}` });
    return lib.bpf_map__pin_path(m) ?? undefined;
  }

  /** sizeof(struct typeName) from the object's BTF, or undefined if there is no such struct. */
  btfStructSize(typeName: string): number | undefined {
    const lib = libbpf();
    const btf = lib.bpf_object__btf(this.handle('read BTF'));
    if (!btf) return undefined;
    const id = lib.btf__find_by_name_kind(btf, typeName, BtfKind.STRUCT);
    if (id <= 0) return undefined;
    return btfResolveSize(btf, id);
  }

  /** Size and member offsets of a struct from the object's BTF (to check a structCodec against C). */
  btfStruct(typeName: string): BtfStructLayout | undefined {
    const btf = libbpf().bpf_object__btf(this.handle('read BTF'));
    if (!btf) return undefined;
    return btfStructLayout(btf, typeName);
  }

  /** Free the object: unpinned maps and programs not attached anywhere go away. */
  close(): void {
    if (!this.obj) return;
    for (const m of this.maps.values()) m.close();
    libbpf().bpf_object__close(this.obj);
    this.obj = null;
    this.maps.clear();
    this.programs.clear();
  }
}

function isSignedInt(btf: Ptr, typeId: number): boolean {
  const lib = libbpf();
  const id = lib.btf__resolve_type(btf, typeId);
  if (id <= 0) return false;
  const t = lib.btf__type_by_id(btf, id);
  if (!t) return false;
  const w = viewOf(t, 16);
  const kind = (w.readUInt32LE(4) >>> 24) & 0x1f;
  if (kind === BtfKind.INT) return ((w.readUInt32LE(12) >>> 24) & 0x1) === 1;
  if (kind === BtfKind.ENUM || kind === BtfKind.ENUM64) return (w.readUInt32LE(4) >>> 31) === 1;
  return false;
}
