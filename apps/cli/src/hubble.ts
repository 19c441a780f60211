// Entry of the `hubble` executable (bundled into bin/hubble by scripts/build.mjs).
import { runHubble } from './hubble/hubble-cli.js';

const ac = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => ac.abort());
}
const code = await runHubble(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  signal: ac.signal,
});
process.exitCode = code;
// follow streams end through the abort signal; nothing else keeps the loop alive
