import { Command } from 'commander';
import { AgentClient, DEFAULT_SOCKET_PATH } from '@cilium-ts/api';
import { CILIUM_COMPAT_VERSION, CILIUM_TS_VERSION } from './version.js';

// `cilium`: the install/status CLI. Until the Kubernetes lab lands, status reads one node's agent.
const program = new Command('cilium').description('cilium-ts install and status CLI');

program
  .command('version')
  .description('print the client version')
  .action(() => {
    process.stdout.write(`cilium-cli: v${CILIUM_TS_VERSION} compiled with ${process.version} on ${process.platform}/${process.arch}\ncilium image (default): v${CILIUM_COMPAT_VERSION}\n`);
  });

program
  .command('status')
  .description("show the health of this node's agent")
  .option('--agent-socket <path>', 'agent API socket', DEFAULT_SOCKET_PATH)
  .action(async (o: { agentSocket: string }) => {
    const s = await new AgentClient({ socketPath: o.agentSocket }).healthz();
    const hub = s.hubble.observer ? `${s.hubble.state} (${s.hubble.observer['current-flows']}/${s.hubble.observer['max-flows']} flows)` : s.hubble.state;
    process.stdout.write(
      [
        `    /¯¯\\`,
        ` /¯¯\\__/¯¯\\    Cilium:             ${s.cilium.state}`,
        ` \\__/¯¯\\__/    Operator:           disabled (no Kubernetes)`,
        ` /¯¯\\__/¯¯\\    Hubble:             ${hub}`,
        ` \\__/¯¯\\__/    ClusterMesh:        disabled`,
        `    \\__/`,
        '',
        `Node:              ${s['node-name']}`,
        `Endpoints:         ${s['endpoint-count']}`,
        `IPAM:              ${s.ipam['ipv4-allocated']}/${s.ipam['ipv4-capacity']} allocated from ${s.ipam['alloc-range']}`,
        '',
      ].join('\n'),
    );
    if (s.cilium.state !== 'Ok') process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { message?: string; hint?: string };
  process.stderr.write(`Error: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
  process.exit(1);
}
