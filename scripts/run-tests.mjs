// Runs every vitest suite and ends with the plain summary line CI reads: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-vitest-'));
const out = join(dir, 'report.json');
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)], { stdio: 'inherit' });
let passed = 0, failed = 0, skipped = 0;
try {
  const rep = JSON.parse(readFileSync(out, 'utf8'));
  passed = rep.numPassedTests ?? 0;
  // A file that fails to load has no failed test, only a failed suite: count it then, not twice.
  failed = rep.numFailedTests ?? 0;
  if (failed === 0) failed = rep.numFailedTestSuites ?? 0;
  skipped = (rep.numPendingTests ?? 0) + (rep.numTodoTests ?? 0);
} catch (e) {
  console.error(`run-tests: no vitest report (${e instanceof Error ? e.message : String(e)})`);
  failed += 1;
}
rmSync(dir, { recursive: true, force: true });
console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
