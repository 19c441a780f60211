// Lab indexes (1..250): index n gives the lab 172.30.n.0/24. A claim is a file INDEX_DIR/<n> made with
// O_EXCL holding the lab's name, so two `up`s at the same time never pick the same index.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './lab-error.js';
import { INDEX_DIR, labDir, MAX_LAB_INDEX } from './layout.js';

function owner(n: number): string | undefined {
  try {
    return readFileSync(join(INDEX_DIR, String(n)), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function claimIndex(name: string): number {
  mkdirSync(INDEX_DIR, { recursive: true, mode: 0o755 });
  for (let n = 1; n <= MAX_LAB_INDEX; n++) {
    const path = join(INDEX_DIR, String(n));
    try {
      writeFileSync(path, `${name}\n`, { flag: 'wx' });
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const o = owner(n);
    if (o === name) return n;
    // A claim whose lab directory is gone is a leftover of a crashed up/down: take it over.
    if (o !== undefined && o !== '' && !existsSync(labDir(o))) {
      rmSync(path, { force: true });
      n--;
    }
  }
  throw new LabError('LAB_NO_INDEX', `all ${MAX_LAB_INDEX} lab indexes are taken`, 'remove labs you no longer need: `cilium-lab down --name NAME`');
}

/** Releases every index claimed by this lab name. */
export function releaseIndex(name: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(INDEX_DIR);
  } catch {
    return;
  }
  for (const e of entries) if (/^\d+$/.test(e) && owner(Number(e)) === name) rmSync(join(INDEX_DIR, e), { force: true });
}
