import { Command } from 'commander';
import { CliError } from './cli-error.js';
import { KubeStatusSource, loadKubeConfig } from './status/kube-status-source.js';
import { parseDuration, runStatus } from './status/run-status.js';
import { CILIUM_COMPAT_VERSION, CILIUM_TS_VERSION } from './version.js';

// `cilium`: the cluster CLI (as cilium-cli). It reads the cluster through the Kubernetes API (KUBECONFIG,
// --kubeconfig, --context); one node's agent is `cilium-dbg status`.
const program = new Command('cilium')
  .description('cilium-ts install and status CLI')
  .option('-n, --namespace <namespace>', 'Namespace Cilium is running in. Can also be set via CILIUM_NAMESPACE env var', process.env.CILIUM_NAMESPACE || 'kube-system')
  .option('--context <context>', 'Kubernetes configuration context')
  .option('--kubeconfig <file>', 'Path to the kubeconfig file')
  .option('--helm-release-name <name>', 'Helm release name', 'cilium');

program
  .command('version')
  .description('print the client version')
  .action(() => {
    process.stdout.write(`cilium-cli: v${CILIUM_TS_VERSION} compiled with ${process.version} on ${process.platform}/${process.arch}\ncilium image (default): v${CILIUM_COMPAT_VERSION}\n`);
  });

program
  .command('status')
  .description('Display status (of the Cilium install in the cluster)')
  .option('--wait', 'Wait for status to report success (no errors and warnings)', false)
  .option('--wait-duration <duration>', 'Maximum time to wait for status', '5m0s')
  .option('--ignore-warnings', 'Ignore warnings when waiting for status to report success', false)
  .option('-o, --output <format>', 'Output format. One of: json, summary', 'summary')
  .option('--interactive', 'Refresh the status summary output after each retry when --wait flag is specified (on a terminal)', true)
  .option('--no-interactive', 'print only the final status')
  .action(async (o: { wait: boolean; waitDuration: string; ignoreWarnings: boolean; output: string; interactive: boolean }) => {
    if (o.output !== 'summary' && o.output !== 'json') throw new CliError('STATUS_BAD_OUTPUT', `unknown output format "${o.output}"`, 'use -o summary or -o json');
    let waitDurationMs: number;
    try {
      waitDurationMs = parseDuration(o.waitDuration);
    } catch (e) {
      throw new CliError('STATUS_BAD_DURATION', `--wait-duration: ${e instanceof Error ? e.message : String(e)}`, 'give a Go duration such as 5m0s or 90s');
    }
    const g = program.opts<{ namespace: string; context?: string; kubeconfig?: string; helmReleaseName: string }>();
    const src = new KubeStatusSource(loadKubeConfig({ ...(g.kubeconfig ? { kubeconfig: g.kubeconfig } : {}), ...(g.context ? { context: g.context } : {}) }));
    const tty = process.stdout.isTTY === true;
    const r = await runStatus(
      src,
      {
        namespace: g.namespace,
        wait: o.wait,
        waitDurationMs,
        ignoreWarnings: o.ignoreWarnings,
        output: o.output,
        colour: tty && !process.env.NO_COLOR,
        interactive: o.interactive && tty,
        helmReleaseName: g.helmReleaseName,
      },
      (t) => void process.stdout.write(t),
    );
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.exitCode;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { message?: string; hint?: string };
  process.stderr.write(`Error: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
  process.exit(1);
}
