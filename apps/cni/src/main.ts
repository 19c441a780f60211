/**
 * cilium-cni-node: the standalone CNI plugin (spec 1.1.0; configs of 0.3.x, 0.4.0 and 1.0.0
 * accepted), a thin client of cilium-agent. bin/cilium-cni (the native shim, apps/cni/shim) forwards
 * each invocation to the agent and runs this only when the agent cannot take it (not running, older
 * agent): VERSION, spec errors, best-effort DEL and the agent-down errors then come from here.
 *
 * All the CNI logic is @cilium-ts/cni's runCni; this file only adapts the process to it: reads the
 * env and stdin, prints stdout, sets the exit code.
 */
import { readFileSync } from 'node:fs';
import { CniCode, CniError, LATEST_VERSION, runCni } from '@cilium-ts/cni';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EAGAIN' || code === 'EOF' || code === 'ENXIO') return '';
    throw new CniError(CniCode.IO_FAILURE, 'CNI_IO', 'failed to read the network configuration from stdin', {
      details: e instanceof Error ? e.message : String(e),
      hint: 'the runtime must write the plugin configuration on stdin',
    });
  }
}

async function main(): Promise<number> {
  let stdin: string;
  try {
    stdin = readStdin();
  } catch (e) {
    const err = e as CniError;
    process.stderr.write(`cilium-cni: ${err.message}\n`);
    process.stdout.write(JSON.stringify(err.toResult(LATEST_VERSION)) + '\n');
    return 1;
  }
  // Every log line says which path ran; the shim tells why the agent did not take the call.
  const fallback = process.env['CILIUM_CNI_FALLBACK'];
  const r = await runCni({ env: process.env, stdin, logFields: { via: 'standalone', ...(fallback ? { fallback } : {}) } });
  if (r.stdout !== '') process.stdout.write(r.stdout);
  return r.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`cilium-cni: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
