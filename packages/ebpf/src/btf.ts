/**
 * Reading BTF through libbpf (struct btf_type and friends from linux/btf.h): type names, sizes, the
 * variables of a DATASEC (.rodata) and struct layouts.
 */
import { libbpf, readU32s, type Ptr } from './native.js';

export const BtfKind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export interface BtfTypeHeader {
  id: number;
  name: string;
  kind: number;
  vlen: number;
  kindFlag: boolean;
  /** size for INT/STRUCT/UNION/ENUM/DATASEC, referenced type id for PTR/TYPEDEF/CONST/VOLATILE/VAR/... */
  sizeOrType: number;
  ptr: Ptr;
}

export function btfType(btf: Ptr, id: number): BtfTypeHeader | undefined {
  const lib = libbpf();
  const ptr = lib.btf__type_by_id(btf, id);
  if (!ptr) return undefined;
  const [nameOff, info, sizeOrType] = readU32s(ptr, 3) as [number, number, number];
  return {
    id,
    name: lib.btf__name_by_offset(btf, nameOff) ?? '',
    kind: (info >>> 24) & 0x1f,
    vlen: info & 0xffff,
    kindFlag: info >>> 31 === 1,
    sizeOrType,
    ptr,
  };
}

/** Resolve a type id to its size in bytes (undefined when BTF cannot size it). */
export function btfResolveSize(btf: Ptr, id: number): number | undefined {
  const r = Number(libbpf().btf__resolve_size(btf, id));
  return r < 0 ? undefined : r;
}

/**
 * A readable name for a type id: struct/union/enum/typedef names as written in C ('endpoint_key',
 * '__u32'); const/volatile are skipped; anonymous types get their kind ('struct', 'int').
 */
export function btfTypeName(btf: Ptr, id: number): string | undefined {
  for (let depth = 0; depth < 16; depth++) {
    const t = btfType(btf, id);
    if (!t) return undefined;
    if (t.kind === BtfKind.CONST || t.kind === BtfKind.VOLATILE || t.kind === BtfKind.RESTRICT || t.kind === BtfKind.TYPE_TAG) {
      id = t.sizeOrType;
      continue;
    }
    if (t.name !== '') return t.name;
    switch (t.kind) {
      case BtfKind.STRUCT:
        return 'struct';
      case BtfKind.UNION:
        return 'union';
      case BtfKind.ARRAY:
        return 'array';
      case BtfKind.PTR:
        return 'pointer';
      default:
        return undefined;
    }
  }
  return undefined;
}

/** The names a type answers to: its own and those along its typedef/const chain. */
export function btfTypeNames(btf: Ptr, id: number): string[] {
  const names: string[] = [];
  for (let depth = 0; depth < 16; depth++) {
    const t = btfType(btf, id);
    if (!t) break;
    if (t.name !== '') names.push(t.name);
    if (
      t.kind === BtfKind.TYPEDEF ||
      t.kind === BtfKind.CONST ||
      t.kind === BtfKind.VOLATILE ||
      t.kind === BtfKind.RESTRICT ||
      t.kind === BtfKind.TYPE_TAG
    ) {
      id = t.sizeOrType;
      continue;
    }
    break;
  }
  return names;
}

export interface DatasecVar {
  name: string;
  typeId: number;
  offset: number;
  size: number;
}

/** Variables of a DATASEC ('.rodata', '.data', '.bss'), with their offsets inside the section. */
export function btfDatasecVars(btf: Ptr, section: string): DatasecVar[] | undefined {
  const id = libbpf().btf__find_by_name_kind(btf, section, BtfKind.DATASEC);
  if (id <= 0) return undefined;
  const t = btfType(btf, id);
  if (!t) return undefined;
  const words = readU32s(t.ptr, 3 + 3 * t.vlen);
  const out: DatasecVar[] = [];
  for (let i = 0; i < t.vlen; i++) {
    const typeId = words[3 + i * 3]!;
    const v = btfType(btf, typeId);
    out.push({ name: v?.name ?? '', typeId: v?.sizeOrType ?? typeId, offset: words[4 + i * 3]!, size: words[5 + i * 3]! });
  }
  return out;
}

export interface BtfStructLayout {
  name: string;
  size: number;
  members: Array<{ name: string; offset: number; size: number | undefined; bitOffset: number; bitSize: number }>;
}

/** Layout of a named struct (or union), for checking a codec against C. */
export function btfStructLayout(btf: Ptr, name: string): BtfStructLayout | undefined {
  const lib = libbpf();
  let id = lib.btf__find_by_name_kind(btf, name, BtfKind.STRUCT);
  if (id <= 0) id = lib.btf__find_by_name_kind(btf, name, BtfKind.UNION);
  if (id <= 0) return undefined;
  const t = btfType(btf, id);
  if (!t) return undefined;
  const words = readU32s(t.ptr, 3 + 3 * t.vlen);
  const members: BtfStructLayout['members'] = [];
  for (let i = 0; i < t.vlen; i++) {
    const nameOff = words[3 + i * 3]!;
    const typeId = words[4 + i * 3]!;
    const raw = words[5 + i * 3]!;
    const bitOffset = t.kindFlag ? raw & 0xffffff : raw;
    const bitSize = t.kindFlag ? raw >>> 24 : 0;
    members.push({
      name: lib.btf__name_by_offset(btf, nameOff) ?? '',
      offset: Math.floor(bitOffset / 8),
      size: btfResolveSize(btf, typeId),
      bitOffset,
      bitSize,
    });
  }
  return { name, size: t.sizeOrType, members };
}
