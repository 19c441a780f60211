export { BpfError, errnoName, type BpfErrorCode } from './errors.js';
export {
  type Codec,
  type CodecType,
  type FieldSpec,
  type StructOf,
  u8,
  u16,
  u32,
  i32,
  u64,
  u64Number,
  be16,
  be32,
  ipv4,
  mac,
  bytes,
  pad,
  arrayCodec,
  structCodec,
  named,
} from './codec.js';
export { BpfObject, type BpfObjectOpenOptions, type RodataValue } from './bpf-object.js';
export { BpfProgram, ProgType, type TestRunResult } from './bpf-program.js';
export { BpfMap } from './bpf-map.js';
export { TypedMap, type UpdateFlag, type MapHandle } from './typed-map.js';
export { MapType, mapTypeName, nrPossibleCpus } from './sys.js';
export { mountBpffs, unmountBpffs, isBpffs, BPF_FS_MAGIC } from './bpffs.js';
export {
  tcAttach,
  tcDetach,
  tcQuery,
  tcEnsureClsact,
  TC_DEFAULT_HANDLE,
  TC_DEFAULT_PRIORITY,
  type TcAttachOptions,
  type TcDirection,
  type TcFilterRef,
} from './tc.js';
export {
  cgroupAttach,
  cgroupDetach,
  cgroupQuery,
  CgroupAttachType,
  type CgroupAttachTypeName,
  type CgroupAttachMode,
  type CgroupAttachment,
} from './cgroup.js';
export { RingBuffer, type RingBufferOptions } from './ring-buffer.js';
export { probeKernel, findCgroup2, type KernelFeatures } from './probe.js';
export { setLibbpfLogger, type LibbpfLogLevel } from './libbpf-log.js';
export { type BtfStructLayout } from './btf.js';
