// bin/cilium-lab: a real multi-node Kubernetes cluster on one machine (see lab/README.md).
import { Command, Option } from 'commander';
import { down } from './down.js';
import { formatEnv, labEnv } from './env.js';
import { labExec } from './exec.js';
import { runForwarder } from './forwarder.js';
import { runKubelet } from './kubelet/kubelet.js';
import { LabError } from './lab-error.js';
import { checkLabName } from './layout.js';
import { formatStatus, labStatus } from './status.js';
import { requireState } from './state.js';
import { up } from './up.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const program = new Command('cilium-lab')
  .description('a real Kubernetes cluster on one machine: control plane, nodes as network namespaces, lab kubelets')
  .enablePositionalOptions();

program
  .command('up')
  .description('create a lab: underlay network, control plane, CoreDNS, N nodes with their kubelets')
  .requiredOption('--name <name>', 'lab name (1-12 lower-case letters/digits)')
  .option('--nodes <n>', 'number of nodes', '2')
  .option('--upstream-bin <dir>', 'directory with kube-apiserver, etcd, ... (default: lab/build-upstream.sh)')
  .option('--no-kubelets', 'do not start the lab kubelets (control plane and node netns only)')
  .option('--node-timeout <seconds>', 'how long to wait for each kubelet to register its Node', '120')
  .option('--keep-on-failure', 'leave what was made when up fails (debugging)', false)
  .action(async (o: { name: string; nodes: string; upstreamBin?: string; kubelets: boolean; nodeTimeout: string; keepOnFailure: boolean }) => {
    const s = await up({
      name: o.name,
      nodes: Number(o.nodes),
      ...(o.upstreamBin !== undefined ? { upstreamBin: o.upstreamBin } : {}),
      kubelets: o.kubelets,
      nodeTimeoutMs: Number(o.nodeTimeout) * 1000,
      keepOnFailure: o.keepOnFailure,
      log,
    });
    process.stdout.write(`lab ${s.name} is up. Use it with:\n  eval "$(${process.argv[1] ?? 'cilium-lab'} env --name ${s.name})"\n  kubectl get nodes\n`);
  });

program
  .command('down')
  .description('stop and remove a lab (idempotent)')
  .requiredOption('--name <name>', 'lab name')
  .action(async (o: { name: string }) => {
    const removed = await down({ name: o.name, log });
    if (!removed) log(`lab ${o.name}: nothing to remove`);
  });

program
  .command('env')
  .description('print shell export lines: KUBECONFIG, PATH, LAB_NAME, LAB_API_HOST, LAB_API_PORT')
  .requiredOption('--name <name>', 'lab name')
  .option('--json', 'print JSON instead', false)
  .action((o: { name: string; json: boolean }) => {
    checkLabName(o.name);
    const e = labEnv(requireState(o.name));
    process.stdout.write(o.json ? `${JSON.stringify(e, null, 2)}\n` : formatEnv(e));
  });

program
  .command('status')
  .description('what runs, pids, addresses')
  .requiredOption('--name <name>', 'lab name')
  .option('--json', 'print JSON', false)
  .action((o: { name: string; json: boolean }) => {
    checkLabName(o.name);
    const st = labStatus(requireState(o.name));
    process.stdout.write(o.json ? `${JSON.stringify(st, null, 2)}\n` : formatStatus(st));
    if (!st.healthy) process.exitCode = 1;
  });

program
  .command('exec')
  .description('run CMD in the netns of a node (node1), the control plane (cp) or a pod (<namespace>/<pod>)')
  .requiredOption('--name <name>', 'lab name')
  .argument('<target>', 'node1 | cp | <namespace>/<pod>')
  .argument('<cmd...>', 'the command (after --)')
  .option('--net-only', "pods: enter only the pod's netns, not its container's mount and UTS namespaces", false)
  .passThroughOptions()
  .action(async (target: string, cmd: string[], o: { name: string; netOnly: boolean }) => {
    checkLabName(o.name);
    // With passThroughOptions, commander keeps the `--` that separates CMD.
    process.exitCode = await labExec(requireState(o.name), target, cmd[0] === '--' ? cmd.slice(1) : cmd, { netOnly: o.netOnly });
  });

program
  .command('kubelet')
  .description('the lab kubelet of one node (started by `up` inside the node netns)')
  .requiredOption('--lab <name>', 'lab name')
  .requiredOption('--node <node>', 'node name')
  .requiredOption('--kubeconfig <path>', "the node's kubeconfig")
  .requiredOption('--node-ip <ip>', "the node's underlay address (Node InternalIP)")
  .requiredOption('--cni-conf-dir <dir>', 'CNI config dir (the pods see it as /etc/cni/net.d)')
  .requiredOption('--cni-bin-dir <dir>', 'CNI bin dir (the pods see it as /opt/cni/bin)')
  .requiredOption('--state-dir <dir>', "the node's state dir")
  .requiredOption('--resolv-conf <path>', 'resolv.conf template for ClusterFirst pods')
  .requiredOption('--cgroup-root <path>', 'cgroup path of the pods, relative to each hierarchy')
  .action(async (o: { lab: string; node: string; kubeconfig: string; nodeIp: string; cniConfDir: string; cniBinDir: string; stateDir: string; resolvConf: string; cgroupRoot: string }) => {
    await runKubelet({
      lab: o.lab,
      node: o.node,
      kubeconfig: o.kubeconfig,
      nodeIp: o.nodeIp,
      cniConfDir: o.cniConfDir,
      cniBinDir: o.cniBinDir,
      stateDir: o.stateDir,
      resolvConf: o.resolvConf,
      cgroupRoot: o.cgroupRoot,
    });
    process.exit(0);
  });

program.addCommand(
  new Command('forward')
    .description('internal: forward 127.0.0.1:<port> in the root netns to the apiserver in the cp netns')
    .requiredOption('--netns <path>', 'control-plane netns path')
    .requiredOption('--target <ip:port>', 'apiserver address inside that netns')
    .requiredOption('--port-file <path>', 'where to write the listening port')
    .addOption(new Option('--port <n>', 'listen port (0: any free one)').default('0'))
    .action(async (o: { netns: string; target: string; portFile: string; port: string }) => {
      const i = o.target.lastIndexOf(':');
      await runForwarder({ netnsPath: o.netns, targetHost: o.target.slice(0, i), targetPort: Number(o.target.slice(i + 1)), portFile: o.portFile, listenPort: Number(o.port) });
    }),
  { hidden: true },
);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { message?: string; hint?: string; code?: string };
  process.stderr.write(`Error: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
  process.exit(e instanceof LabError ? 2 : 1);
}
