/**
 * How a container process is started: `nsenter --net=<pod netns>` (not for hostNetwork pods: the kubelet
 * already runs in the node's netns), `unshare --mount --propagation private` (a mount namespace of its
 * own; a UTS namespace with the pod's hostname unless hostNetwork), then a small sh prelude that joins the container's cgroups, bind-mounts the volumes, the pod's
 * /etc/resolv.conf and /etc/hosts, changes to workingDir and execs the command: the pid the kubelet gets
 * is the container's main process. The mount namespace is a slave of the host's (HostToContainer for
 * everything): mounts made on the host later, such as new pod netns under /run/netns, show up inside
 * (an agent serving CNI calls in-process opens them), and nothing mounted inside leaks out. Also the hostPath mapping of a lab node. Pure.
 */
import { dirname, join, normalize } from 'node:path';
import { HOST_PATHS_LOG } from '../host-paths.js';

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
  /** The source is a file (the target is created as an empty file when missing). */
  file: boolean;
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const HOST_PATHS_LOG_Q = shQuote(HOST_PATHS_LOG);

/** The sh prelude: join cgroups, bind mounts (parents first), cd, exec "$@". */
export function launchScript(o: { cgroupDirs: string[]; mounts: BindMount[]; workingDir?: string | undefined; hostname?: string | undefined; readyFile?: string | undefined }): string {
  const lines = ['set -e'];
  if (o.hostname) lines.push(`hostname ${shQuote(o.hostname)}`);
  for (const d of o.cgroupDirs) lines.push(`echo $$ > ${shQuote(join(d, 'cgroup.procs'))}`);
  const mounts = [...o.mounts].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  if (mounts.length > 0) lines.push(`mkdir -p ${shQuote(dirname(HOST_PATHS_LOG))}`);
  for (const m of mounts) {
    const t = shQuote(m.target);
    // Mount points missing on the host are created there (the filesystem is shared) and recorded, so that
    // `cilium-lab down` of the last lab removes them again (lab/src/host-paths.ts).
    if (m.file) lines.push(`[ -e ${t} ] || { mkdir -pv "$(dirname ${t})" >> ${HOST_PATHS_LOG_Q}; : > ${t}; echo "created file "${t} >> ${HOST_PATHS_LOG_Q}; }`);
    else lines.push(`[ -d ${t} ] || mkdir -pv ${t} >> ${HOST_PATHS_LOG_Q}`);
    lines.push(`mount --bind ${shQuote(m.source)} ${t}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${t}`);
  }
  if (o.workingDir) lines.push(`mkdir -p ${shQuote(o.workingDir)}`, `cd ${shQuote(o.workingDir)}`);
  // Tells the kubelet the namespaces are set up: hooks and exec probes may enter them from now on.
  if (o.readyFile) lines.push(`: > ${shQuote(o.readyFile)}`);
  lines.push('exec "$@"');
  return lines.join('\n');
}

/** The full argv of a container process. */
export function launchArgv(o: { netnsPath?: string | undefined; script: string; argv: string[]; uts?: boolean }): string[] {
  const inner = ['unshare', '--mount', ...(o.uts ? ['--uts'] : []), '--propagation', 'slave', '--', '/bin/sh', '-c', o.script, 'lab-container', ...o.argv];
  return o.netnsPath ? ['nsenter', `--net=${o.netnsPath}`, '--', ...inner] : inner;
}

export interface NodePaths {
  cniConfDir: string;
  cniBinDir: string;
  stateDir: string;
  /** The node's cgroup2 directory (/sys/fs/cgroup/unified/<cgroupRoot>): what /run/cilium/cgroupv2 shows. */
  cgroup2Dir?: string;
}

/** Host paths that are the host's own in a lab node too (the container sees the host root): no mount. */
const PASSTHROUGH = ['/proc', '/dev', '/lib/modules', '/usr/lib/modules', '/sys'];

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Where a hostPath of a pod lives on a lab node: the node's own dirs for the paths that are per node
 * (CNI config and binaries, Cilium's run dir, the BPF filesystem, /var/lib/cni; /run/cilium/cgroupv2 is
 * the node's cgroup2 subtree, so an agent attaching cgroup BPF there reaches this node's pods), the host's for
 * /proc, /sys, /dev and /lib/modules, and <stateDir>/hostpath/<path> for anything else.
 * Returns undefined when no mount is needed (the host's path is already visible).
 */
export function mapHostPath(path: string, n: NodePaths): string | undefined {
  const p = normalize(path).replace(/\/+$/, '') || '/';
  const table: Array<[string, string]> = [
    ...(n.cgroup2Dir ? ([['/run/cilium/cgroupv2', n.cgroup2Dir], ['/var/run/cilium/cgroupv2', n.cgroup2Dir]] as Array<[string, string]>) : []),
    ['/etc/cni/net.d', n.cniConfDir],
    ['/opt/cni/bin', n.cniBinDir],
    ['/var/run/cilium', join(n.stateDir, 'run-cilium')],
    ['/run/cilium', join(n.stateDir, 'run-cilium')],
    ['/sys/fs/bpf', join(n.stateDir, 'bpffs')],
    ['/var/lib/cni', join(n.stateDir, 'var-lib-cni')],
  ];
  for (const [prefix, dir] of table) if (under(p, prefix)) return join(dir, p.slice(prefix.length));
  if (PASSTHROUGH.some((x) => under(p, x))) return undefined;
  return join(n.stateDir, 'hostpath', p);
}

/** The node's view for CNI plugins (as containerd on a real node sees its host): the per-node dirs. */
export function nodeMountView(n: NodePaths): BindMount[] {
  return [
    { source: n.cniConfDir, target: '/etc/cni/net.d', readOnly: false, file: false },
    { source: n.cniBinDir, target: '/opt/cni/bin', readOnly: false, file: false },
    { source: join(n.stateDir, 'run-cilium'), target: '/run/cilium', readOnly: false, file: false },
    { source: join(n.stateDir, 'bpffs'), target: '/sys/fs/bpf', readOnly: false, file: false },
    { source: join(n.stateDir, 'var-lib-cni'), target: '/var/lib/cni', readOnly: false, file: false },
  ];
}
