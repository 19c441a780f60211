// `cilium-install-cni`: the agent DaemonSet's init container (install/kubernetes/cilium). Installs the CNI
// plugin on the node and writes the CNI config, so the runtime (containerd, the lab kubelet) finds Cilium:
//   $CNI_BIN_DIR/cilium-cni        a copy of bin/cilium-cni (the native shim; self-contained)
//   $CNI_BIN_DIR/cilium-cni-node   a symlink to bin/cilium-cni-node (an esbuild bundle: it resolves its native
//                                  module koffi from next to its real location, so it is linked, not copied)
//   $CNI_CONF_DIR/$CNI_CONF_NAME   the conflist (install/cni/05-cilium.conflist with the settings below)
// With CNI_EXCLUSIVE=true the other configs in $CNI_CONF_DIR are renamed to *.cilium_bak, as Cilium does.
// Every file is written beside its target and renamed into place (the runtime may be reading or running it).
// Environment: CNI_BIN_DIR (/host/opt/cni/bin), CNI_CONF_DIR (/host/etc/cni/net.d), CNI_CONF_NAME
// (05-cilium.conflist), CNI_EXCLUSIVE (true), CNI_LOG_FILE, CNI_MTU (0: 1500), CILIUM_SOCKET_PATH
// (/var/run/cilium/cilium.sock), CILIUM_CNI_SRC_DIR (default: the directory of this executable).
import { chmodSync, copyFileSync, existsSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface InstallCniOptions {
  srcDir: string;
  binDir: string;
  confDir: string;
  confName: string;
  exclusive: boolean;
  socketPath: string;
  logFile: string;
  mtu: number;
}

export interface InstallCniResult {
  installed: string[];
  config: string;
  renamed: string[];
}

export class InstallCniError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'InstallCniError';
  }
}

export function cniConflist(o: Pick<InstallCniOptions, 'socketPath' | 'logFile' | 'mtu'>): string {
  const conf = {
    cniVersion: '1.1.0',
    cniVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    name: 'cilium',
    plugins: [{ type: 'cilium-cni', 'socket-path': o.socketPath, mtu: o.mtu > 0 ? o.mtu : 1500, 'enable-debug': false, 'log-file': o.logFile }],
  };
  return JSON.stringify(conf, null, 2) + '\n';
}

const tmpName = (target: string): string => join(dirname(target), `.${target.split('/').pop() ?? 'x'}.tmp-${process.pid}`);

function fsStep<T>(what: string, hint: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InstallCniError('CNI_INSTALL_FAILED', `${what}: ${err.message}`, hint, typeof err.errno === 'number' ? -err.errno : undefined);
  }
}

export function installCni(o: InstallCniOptions): InstallCniResult {
  const shim = join(o.srcDir, 'cilium-cni');
  const nodePlugin = join(o.srcDir, 'cilium-cni-node');
  for (const f of [shim, nodePlugin]) {
    if (!existsSync(f)) throw new InstallCniError('CNI_INSTALL_SOURCE_MISSING', `install-cni: ${f} does not exist`, 'build the binaries first (`make build`) or set CILIUM_CNI_SRC_DIR to the directory holding cilium-cni and cilium-cni-node');
  }
  const dirHint = 'the init container needs the host directories mounted read-write (hostPath volumes cni-path and etc-cni-netd)';
  fsStep(`install-cni: create ${o.binDir}`, dirHint, () => mkdirSync(o.binDir, { recursive: true }));
  fsStep(`install-cni: create ${o.confDir}`, dirHint, () => mkdirSync(o.confDir, { recursive: true }));

  const installed: string[] = [];
  const shimDst = join(o.binDir, 'cilium-cni');
  fsStep(`install-cni: copy ${shim} to ${shimDst}`, dirHint, () => {
    const tmp = tmpName(shimDst);
    copyFileSync(shim, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, shimDst);
  });
  installed.push(shimDst);
  const nodeDst = join(o.binDir, 'cilium-cni-node');
  const nodeReal = fsStep(`install-cni: resolve ${nodePlugin}`, 'check the cilium-ts checkout', () => realpathSync(nodePlugin));
  fsStep(`install-cni: link ${nodeDst} -> ${nodeReal}`, dirHint, () => {
    const tmp = tmpName(nodeDst);
    rmSync(tmp, { force: true });
    symlinkSync(nodeReal, tmp);
    renameSync(tmp, nodeDst);
  });
  installed.push(nodeDst);

  const renamed: string[] = [];
  if (o.exclusive) {
    const entries = fsStep(`install-cni: list ${o.confDir}`, dirHint, () => readdirSync(o.confDir));
    for (const name of entries.sort()) {
      if (name === o.confName || !/\.(conf|conflist|json)$/.test(name)) continue;
      const from = join(o.confDir, name);
      fsStep(`install-cni: rename ${from}`, dirHint, () => renameSync(from, `${from}.cilium_bak`));
      renamed.push(from);
    }
  }
  const config = join(o.confDir, o.confName);
  fsStep(`install-cni: write ${config}`, dirHint, () => {
    const tmp = tmpName(config);
    writeFileSync(tmp, cniConflist(o), { mode: 0o644 });
    renameSync(tmp, config);
  });
  return { installed, config, renamed };
}

export function optionsFromEnv(env: NodeJS.ProcessEnv, selfPath: string): InstallCniOptions {
  const mtu = Number(env.CNI_MTU ?? '0');
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535) throw new InstallCniError('CNI_INSTALL_BAD_ENV', `install-cni: CNI_MTU=${env.CNI_MTU} is not an MTU`, 'set CNI_MTU to 0 (default 1500) or 576..65535');
  const name = env.CNI_CONF_NAME || '05-cilium.conflist';
  if (name.includes('/')) throw new InstallCniError('CNI_INSTALL_BAD_ENV', `install-cni: CNI_CONF_NAME=${name} is not a file name`, 'give a plain name such as 05-cilium.conflist');
  return {
    srcDir: env.CILIUM_CNI_SRC_DIR || dirname(realpathSync(selfPath)),
    binDir: env.CNI_BIN_DIR || '/host/opt/cni/bin',
    confDir: env.CNI_CONF_DIR || '/host/etc/cni/net.d',
    confName: name,
    exclusive: (env.CNI_EXCLUSIVE ?? 'true').toLowerCase() !== 'false',
    socketPath: env.CILIUM_SOCKET_PATH || '/var/run/cilium/cilium.sock',
    logFile: env.CNI_LOG_FILE || '/var/run/cilium/cilium-cni.log',
    mtu,
  };
}

const self = process.argv[1];
const isEntry = (): boolean => {
  try {
    return self !== undefined && realpathSync(resolve(self)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};
if (isEntry()) {
  try {
    const r = installCni(optionsFromEnv(process.env, self ?? ''));
    for (const f of r.renamed) process.stdout.write(`install-cni: renamed ${f} to ${f}.cilium_bak\n`);
    process.stdout.write(`install-cni: installed ${r.installed.join(', ')}; wrote ${r.config}\n`);
  } catch (e) {
    const err = e as { message?: string; hint?: string };
    process.stderr.write(`Error: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
    process.exit(1);
  }
}
