/**
 * Capture of libbpf's log (libbpf_set_print with a koffi-registered callback). Errors from open/load
 * carry the tail of what libbpf printed during the call, which includes the verifier log.
 */
import { koffi, libbpf, libc, printFnType, type Ptr } from './native.js';

export type LibbpfLogLevel = 'warn' | 'info' | 'debug';
const levels: LibbpfLogLevel[] = ['warn', 'info', 'debug'];

const TAIL = 16 * 1024;
let installed = false;
let text = '';
let total = 0;
let forward: ((level: LibbpfLogLevel, line: string) => void) | undefined;
let captureDebug = process.env.CILIUM_TS_LIBBPF_DEBUG === '1';
const scratch = Buffer.alloc(8192);

function onPrint(level: number, fmt: string, ap: Ptr): number {
  const lvl = levels[level] ?? 'debug';
  if (lvl === 'debug' && !captureDebug && !forward) return 0;
  const n = libc().vsnprintf(scratch, scratch.length, fmt, ap);
  const line = scratch.toString('utf8', 0, Math.max(0, Math.min(n, scratch.length - 1)));
  if (lvl !== 'debug' || captureDebug) {
    text += line;
    total += line.length;
    if (text.length > 2 * TAIL) text = text.slice(-TAIL);
  }
  forward?.(lvl, line);
  return 0;
}

/** Install our print callback once (idempotent). */
export function installLibbpfLog(): void {
  if (installed) return;
  const cb = koffi.register(onPrint, koffi.pointer(printFnType() as koffi.IKoffiCType));
  libbpf().libbpf_set_print(cb);
  installed = true;
}

/** Route libbpf's log lines to a logger as well (undefined: stop). Debug lines only go there if set. */
export function setLibbpfLogger(fn: ((level: LibbpfLogLevel, line: string) => void) | undefined, o: { debug?: boolean } = {}): void {
  installLibbpfLog();
  forward = fn;
  captureDebug = o.debug ?? captureDebug;
}

/** Marks the log position; `logSince(mark)` returns what libbpf printed after it (last `max` chars). */
export function logMark(): number {
  installLibbpfLog();
  return total;
}

export function logSince(mark: number, max = 4096): string {
  const n = Math.min(total - mark, text.length);
  const s = n <= 0 ? '' : text.slice(-n);
  return s.length > max ? `...${s.slice(-max)}` : s;
}
