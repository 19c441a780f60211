// Bundles each executable into bin/ with esbuild: one file per command, so a CNI ADD loads one module
// instead of hundreds. koffi is native and stays external (resolved from node_modules at run time).
// bin/cilium-cni is native: apps/cni/shim/cilium-cni.c (forwards to the agent, falls back to the
// bundle bin/cilium-cni-node), compiled with $CC (default gcc) and this very node baked in.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = {
  'cilium-agent': 'apps/agent/src/main.ts',
  'cilium-cni-node': 'apps/cni/src/main.ts',
  'cilium-dbg': 'apps/cli/src/cilium-dbg.ts',
  hubble: 'apps/cli/src/hubble.ts',
  cilium: 'apps/cli/src/cilium.ts',
  'cilium-operator': 'apps/operator/src/main.ts',
  'cilium-install-cni': 'apps/cli/src/cilium-install-cni.ts',
  'cilium-lab': 'lab/src/main.ts',
  'hubble-relay': 'apps/hubble-relay/src/main.ts',
  'hubble-ui': 'apps/hubble-ui/src/main.ts',
};
mkdirSync(join(root, 'bin'), { recursive: true });
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __cilium_createRequire } from 'node:module';",
  'const require = __cilium_createRequire(import.meta.url);',
].join('\n');
const results = await Promise.allSettled(
  Object.entries(entries)
    .filter(([, src]) => existsSync(join(root, src)))
    .map(async ([name, src]) => {
      const outfile = join(root, 'bin', name);
      await build({
        entryPoints: [join(root, src)],
        outfile,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        external: ['koffi'],
        banner: { js: banner },
        sourcemap: false,
        minify: false,
        logLevel: 'warning',
      });
      chmodSync(outfile, 0o755);
    }),
);
results.push(await Promise.allSettled([compileShim()]).then((r) => r[0]));
const failed = results.filter((r) => r.status === 'rejected');
for (const f of failed) console.error(`build: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
if (failed.length > 0) process.exit(1);

/** cc -O2 apps/cni/shim/cilium-cni.c -> bin/cilium-cni (written aside, then renamed: it may be running). */
async function compileShim() {
  const src = join(root, 'apps/cni/shim/cilium-cni.c');
  const out = join(root, 'bin', 'cilium-cni');
  const tmp = `${out}.tmp-${process.pid}`;
  const cc = process.env.CC || 'gcc';
  const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', `-DCILIUM_CNI_NODE_BIN=${JSON.stringify(process.execPath)}`, '-o', tmp, src];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`${cc} ${args.join(' ')} failed: ${r.error ? r.error.message : r.stderr}`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
}
