/**
 * Test support: compile the test BPF objects with clang into a private tmp dir, and unique names for
 * kernel objects. Used by the *.test.ts files of this package only.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastErrno, libc } from '../native.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export function suffix(): string {
  return Math.random().toString(36).slice(2, 8);
}

export function makeTmpDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** clang -target bpf -O2 -g testdata/<name>.c -> <outDir>/<name>.o */
export function compileTestObject(name: string, outDir: string): string {
  const out = path.join(outDir, `${name}.o`);
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-I/usr/include/x86_64-linux-gnu', '-c', path.join(here, `${name}.c`), '-o', out], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function shQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* cleanup: already gone */
  }
}

const CLONE_NEWNET = 0x40000000;

/** Run fn with the calling (main) thread inside the named netns (/run/netns/<name>); always restores. */
export function inNetns<T>(name: string, fn: () => T): T {
  const c = libc();
  const self = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${name}`, 'r');
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns ${name}: errno ${lastErrno()}`);
    try {
      return fn();
    } finally {
      if (c.setns(self, CLONE_NEWNET) !== 0) throw new Error(`setns back: errno ${lastErrno()}`);
    }
  } finally {
    closeSync(self);
    closeSync(target);
  }
}

export function ifindexOf(name: string): number {
  const i = libc().if_nametoindex(name);
  if (i === 0) throw new Error(`no interface ${name} in this netns`);
  return i;
}
