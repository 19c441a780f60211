/**
 * Test support: compile the test BPF objects with clang into a private tmp dir, and unique names for
 * kernel objects. Used by the *.test.ts files of this package only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
