/**
 * Host paths the labs create: a container's mount point that does not exist on the host (e.g.
 * /etc/cni/net.d, /opt/cni/bin, /run/cilium, /var/lib/cni) is made on the host's filesystem before the bind
 * mount in the container's private mount namespace. The launch script appends what `mkdir -pv` (and the
 * creation of an empty file) reports to HOST_PATHS_LOG; the `down` of the last lab removes those paths again,
 * deepest first, as long as they are still empty.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { LAB_RUN_DIR } from './layout.js';

export const HOST_PATHS_LOG = `${LAB_RUN_DIR}/.host-paths.log`;

/** Parses the log: `mkdir: created directory '/x'` and `created file /x` lines. */
export function parseHostPaths(text: string): Array<{ path: string; file: boolean }> {
  const out: Array<{ path: string; file: boolean }> = [];
  for (const line of text.split('\n')) {
    const d = /^mkdir: created directory '(.+)'$/.exec(line);
    if (d?.[1]) out.push({ path: d[1], file: false });
    const f = /^created file (\/.+)$/.exec(line);
    if (f?.[1]) out.push({ path: f[1], file: true });
  }
  return out;
}

/** Removes the recorded host paths when no lab is left; returns what it removed. Never removes anything non-empty. */
export function removeHostPaths(log: (line: string) => void): string[] {
  if (!existsSync(HOST_PATHS_LOG)) return [];
  const labsLeft = readdirSync(LAB_RUN_DIR, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  if (labsLeft.length > 0) return [];
  const entries = parseHostPaths(readFileSync(HOST_PATHS_LOG, 'utf8'));
  const removed: string[] = [];
  const unique = [...new Map(entries.map((e) => [e.path, e])).values()].sort((a, b) => b.path.length - a.path.length);
  for (const e of unique) {
    try {
      const st = statSync(e.path);
      if (e.file ? st.isFile() && st.size === 0 : st.isDirectory() && readdirSync(e.path).length === 0) {
        if (e.file) unlinkSync(e.path);
        else rmdirSync(e.path);
        removed.push(e.path);
      }
    } catch {
      // gone, busy or not empty: left alone
    }
  }
  unlinkSync(HOST_PATHS_LOG);
  if (removed.length > 0) log(`  removed ${removed.length} mount point(s) the labs created on the host: ${removed.join(' ')}`);
  return removed;
}
