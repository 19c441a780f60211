// Bundles each executable into bin/ with esbuild: one file per command, so a CNI ADD loads one module
// instead of hundreds. koffi is native and stays external (resolved from node_modules at run time).
import { build } from 'esbuild';
import { chmodSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = {
  'cilium-agent': 'apps/agent/src/main.ts',
  'cilium-cni': 'apps/cni/src/main.ts',
  'cilium-dbg': 'apps/cli/src/cilium-dbg.ts',
  hubble: 'apps/cli/src/hubble.ts',
  cilium: 'apps/cli/src/cilium.ts',
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
const failed = results.filter((r) => r.status === 'rejected');
for (const f of failed) console.error(`build: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
if (failed.length > 0) process.exit(1);
