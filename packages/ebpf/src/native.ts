/**
 * koffi bindings to libbpf (libbpf.so.1) and libc. Loaded lazily on first use, so importing the
 * package never fails on a machine without libbpf; the first call does, with a hint.
 *
 * Pointers to libbpf objects are koffi external pointers (`Ptr`); memory we own is a Node Buffer
 * whose address we take once with koffi.address (backing stores of Buffers never move).
 */
import koffi from 'koffi';
import { BpfError } from './errors.js';

export type Ptr = unknown;

export interface LibBpf {
  bpf_object__open_file(path: string, opts: Buffer): Ptr | null;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_object__next_program(obj: Ptr, prev: Ptr | null): Ptr | null;
  bpf_object__next_map(obj: Ptr, prev: Ptr | null): Ptr | null;
  bpf_object__btf(obj: Ptr): Ptr | null;
  bpf_program__name(prog: Ptr): string;
  bpf_program__section_name(prog: Ptr): string;
  bpf_program__fd(prog: Ptr): number;
  bpf_program__type(prog: Ptr): number;
  bpf_map__name(map: Ptr): string;
  bpf_map__fd(map: Ptr): number;
  bpf_map__type(map: Ptr): number;
  bpf_map__key_size(map: Ptr): number;
  bpf_map__value_size(map: Ptr): number;
  bpf_map__max_entries(map: Ptr): number;
  bpf_map__map_flags(map: Ptr): number;
  bpf_map__btf_key_type_id(map: Ptr): number;
  bpf_map__btf_value_type_id(map: Ptr): number;
  bpf_map__pin_path(map: Ptr): string | null;
  bpf_map__initial_value(map: Ptr, psize: [number]): Ptr | null;
  btf__find_by_name_kind(btf: Ptr, name: string, kind: number): number;
  btf__type_by_id(btf: Ptr, id: number): Ptr | null;
  btf__name_by_offset(btf: Ptr, off: number): string | null;
  btf__resolve_size(btf: Ptr, id: number): number | bigint;
  btf__resolve_type(btf: Ptr, id: number): number;
  btf__load_from_kernel_by_id(id: number): Ptr | null;
  btf__free(btf: Ptr): void;
  libbpf_set_print(fn: unknown): unknown;
  bpf_tc_hook_create(hook: Buffer): number;
  bpf_tc_attach(hook: Buffer, opts: Buffer): number;
  bpf_tc_detach(hook: Buffer, opts: Buffer): number;
  bpf_tc_query(hook: Buffer, opts: Buffer): number;
  ring_buffer__new(fd: number, cb: unknown, ctx: Ptr | null, opts: Ptr | null): Ptr | null;
  ring_buffer__consume(rb: Ptr): number;
  ring_buffer__epoll_fd(rb: Ptr): number;
  ring_buffer__free(rb: Ptr): void;
  libbpf_probe_bpf_map_type(type: number, opts: Ptr | null): number;
  libbpf_probe_bpf_prog_type(type: number, opts: Ptr | null): number;
  libbpf_probe_bpf_helper(progType: number, helper: number, opts: Ptr | null): number;
}

export interface LibC {
  /** syscall(nr, a1, a2, a3) with integer/address arguments (attr passed as its address). */
  syscall(nr: number, a1: number, a2: number, a3: number): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  statfs(path: string, buf: Buffer): number;
  vsnprintf(buf: Buffer, size: number, fmt: string, ap: Ptr): number;
  setns(fd: number, nstype: number): number;
  if_nametoindex(name: string): number;
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): Ptr;
  munmap(addr: Ptr, len: number): number;
  sysconf(name: number): number;
}

let cache: { bpf: LibBpf; c: LibC; printProto: unknown; sampleProto: unknown } | undefined;

function bind() {
  if (cache) return cache;
  let bpfLib: koffi.IKoffiLib;
  let cLib: koffi.IKoffiLib;
  try {
    bpfLib = koffi.load('libbpf.so.1');
  } catch (err) {
    throw new BpfError('EBPF_OPEN', `cannot load libbpf.so.1: ${(err as Error).message}`, {
      hint: 'install libbpf (Debian: apt-get install libbpf1 libbpf-dev, or `make deps`)',
      cause: err,
    });
  }
  cLib = koffi.load('libc.so.6');
  const printProto = koffi.proto('int cilium_ts_libbpf_print_fn(int level, const char *fmt, void *args)');
  const sampleProto = koffi.proto('int cilium_ts_ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
  const f = (lib: koffi.IKoffiLib, decl: string) => lib.func(decl);
  const bpf: Record<string, unknown> = {};
  const decls = [
    'void *bpf_object__open_file(const char *path, void *opts)',
    'int bpf_object__load(void *obj)',
    'void bpf_object__close(void *obj)',
    'void *bpf_object__find_program_by_name(void *obj, const char *name)',
    'void *bpf_object__find_map_by_name(void *obj, const char *name)',
    'void *bpf_object__next_program(void *obj, void *prev)',
    'void *bpf_object__next_map(void *obj, void *prev)',
    'void *bpf_object__btf(void *obj)',
    'const char *bpf_program__name(void *prog)',
    'const char *bpf_program__section_name(void *prog)',
    'int bpf_program__fd(void *prog)',
    'int bpf_program__type(void *prog)',
    'const char *bpf_map__name(void *map)',
    'int bpf_map__fd(void *map)',
    'int bpf_map__type(void *map)',
    'uint32_t bpf_map__key_size(void *map)',
    'uint32_t bpf_map__value_size(void *map)',
    'uint32_t bpf_map__max_entries(void *map)',
    'uint32_t bpf_map__map_flags(void *map)',
    'uint32_t bpf_map__btf_key_type_id(void *map)',
    'uint32_t bpf_map__btf_value_type_id(void *map)',
    'const char *bpf_map__pin_path(void *map)',
    'void *bpf_map__initial_value(void *map, _Out_ size_t *psize)',
    'int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
    'void *btf__type_by_id(void *btf, uint32_t id)',
    'const char *btf__name_by_offset(void *btf, uint32_t off)',
    'int64_t btf__resolve_size(void *btf, uint32_t id)',
    'int btf__resolve_type(void *btf, uint32_t id)',
    'void *btf__load_from_kernel_by_id(uint32_t id)',
    'void btf__free(void *btf)',
    'void *libbpf_set_print(cilium_ts_libbpf_print_fn *fn)',
    'int bpf_tc_hook_create(void *hook)',
    'int bpf_tc_attach(void *hook, void *opts)',
    'int bpf_tc_detach(void *hook, void *opts)',
    'int bpf_tc_query(void *hook, void *opts)',
    'void *ring_buffer__new(int fd, cilium_ts_ring_buffer_sample_fn *cb, void *ctx, void *opts)',
    'int ring_buffer__consume(void *rb)',
    'int ring_buffer__epoll_fd(void *rb)',
    'void ring_buffer__free(void *rb)',
    'int libbpf_probe_bpf_map_type(int type, void *opts)',
    'int libbpf_probe_bpf_prog_type(int type, void *opts)',
    'int libbpf_probe_bpf_helper(int prog_type, int helper, void *opts)',
  ];
  for (const d of decls) {
    const name = /([a-z_0-9]+)\(/.exec(d)![1]!;
    bpf[name] = f(bpfLib, d);
  }
  const c: Record<string, unknown> = {
    syscall: f(cLib, 'long syscall(long nr, long a1, uintptr_t a2, unsigned long a3)'),
    mount: f(cLib, 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: f(cLib, 'int umount2(const char *target, int flags)'),
    statfs: f(cLib, 'int statfs(const char *path, void *buf)'),
    vsnprintf: f(cLib, 'int vsnprintf(void *buf, size_t size, const char *fmt, void *ap)'),
    setns: f(cLib, 'int setns(int fd, int nstype)'),
    if_nametoindex: f(cLib, 'unsigned int if_nametoindex(const char *name)'),
    mmap: f(cLib, 'void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    munmap: f(cLib, 'int munmap(void *addr, size_t len)'),
    sysconf: f(cLib, 'long sysconf(int name)'),
  };
  cache = { bpf: bpf as unknown as LibBpf, c: c as unknown as LibC, printProto, sampleProto };
  return cache;
}

export function libbpf(): LibBpf {
  return bind().bpf;
}

export function libc(): LibC {
  return bind().c;
}

export function printFnType(): unknown {
  return bind().printProto;
}

export function sampleFnType(): unknown {
  return bind().sampleProto;
}

/** errno of the last libc/libbpf call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Address of a Buffer's memory (stable for the Buffer's lifetime). */
export function addressOf(buf: Buffer): number {
  return Number(koffi.address(buf));
}

/** Copy `size` bytes at a native pointer into a new Buffer. */
export function copyFrom(ptr: Ptr, size: number): Buffer {
  if (size === 0) return Buffer.alloc(0);
  return Buffer.from(koffi.view(ptr, size).slice(0));
}

/** A Buffer aliasing native memory (writes go straight to it). */
export function viewOf(ptr: Ptr, size: number): Buffer {
  return Buffer.from(koffi.view(ptr, size));
}

/** Read `count` u32 at a native pointer. */
export function readU32s(ptr: Ptr, count: number): number[] {
  const b = viewOf(ptr, count * 4);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(b.readUInt32LE(i * 4));
  return out;
}

export { koffi };
