/**
 * cilium-cni: the CNI plugin (spec 1.1.0; configs of 0.3.x, 0.4.0 and 1.0.0 accepted), a thin client
 * of cilium-agent. Invoked by a container runtime with CNI_* env vars and the plugin config on stdin;
 * prints exactly one JSON document (result or error) on stdout, logs to stderr or the netconf log-file.
 *
 * Startup cost matters: only node:* modules load at start; the netlink (koffi) side is imported
 * lazily by the commands that touch the kernel.
 */
import { readFileSync } from 'node:fs';
import { AgentClient } from '@cilium-ts/api';
import { parseCommand, parseEnv, type CniCommand } from './cni-env.js';
import { CniCode, CniError, describeError } from './cni-error.js';
import type { CniContext } from './cni-context.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS } from './cni-version.js';
import { Logger } from './logger.js';
import { decodeStdin, parseNetConf, versionForErrors } from './netconf.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EAGAIN' || code === 'EOF' || code === 'ENXIO') return '';
    throw new CniError(CniCode.IO_FAILURE, 'CNI_IO', 'failed to read the network configuration from stdin', {
      details: describeError(e),
      hint: 'the runtime must write the plugin configuration on stdin',
    });
  }
}

function tryVersion(stdin: string): string | undefined {
  try {
    const v = JSON.parse(stdin) as unknown;
    return v && typeof v === 'object' ? versionForErrors(v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function print(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc) + '\n');
}

async function run(log: Logger): Promise<number> {
  let cniVersion = LATEST_VERSION;
  let command: CniCommand | undefined;
  try {
    const stdin = readStdin();
    cniVersion = tryVersion(stdin) ?? LATEST_VERSION;
    command = parseCommand(process.env);

    if (command === 'VERSION') {
      // Only CNI_COMMAND is required; an empty stdin means "whatever you speak".
      const raw = stdin.trim() === '' ? {} : decodeStdin(stdin);
      const v = versionForErrors(raw) ?? LATEST_VERSION;
      print({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] });
      return 0;
    }

    const env = parseEnv(command, process.env);
    const conf = parseNetConf(decodeStdin(stdin), command);
    log.configure({ debug: conf.enableDebug, file: conf.logFile });
    log.with({ cmd: command, containerID: env.containerId || undefined, ifname: env.ifname || undefined, netns: env.netns || undefined });
    log.debug('invoked', { network: conf.name, cniVersion: conf.cniVersion, args: env.args.all });
    const ctx: CniContext = { env, conf, log, agent: new AgentClient({ socketPath: conf.socketPath }) };

    switch (command) {
      case 'ADD': {
        const { cmdAdd } = await import('./cmd-add.js');
        print(await cmdAdd(ctx));
        break;
      }
      case 'DEL': {
        const { cmdDel } = await import('./cmd-del.js');
        await cmdDel(ctx);
        break;
      }
      case 'CHECK': {
        const { cmdCheck } = await import('./cmd-check.js');
        await cmdCheck(ctx);
        break;
      }
      case 'STATUS': {
        const { cmdStatus } = await import('./cmd-status.js');
        await cmdStatus(ctx);
        break;
      }
      case 'GC': {
        const { cmdGc } = await import('./cmd-gc.js');
        await cmdGc(ctx);
        break;
      }
    }
    log.debug('done');
    return 0;
  } catch (e) {
    const err =
      e instanceof CniError
        ? e
        : new CniError(CniCode.INTERNAL, 'CNI_INTERNAL', `${command ?? 'cilium-cni'}: ${e instanceof Error ? e.message : String(e)}`, {
            hint: 'this is a bug in cilium-cni; the log has the stack',
            cause: e,
          });
    log.error(err.message, {
      code: err.code,
      cniCode: err.cniCode,
      ...(err.errno !== undefined ? { errno: err.errno } : {}),
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.cause instanceof Error ? { cause: describeError(err.cause), stack: err.cause.stack } : {}),
    });
    print(err.toResult(cniVersion));
    return 1;
  }
}

const log = new Logger();
run(log).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`cilium-cni: fatal: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);
