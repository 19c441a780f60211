/**
 * One CNI invocation, start to finish, as a function: the CNI_* variables and the plugin config in,
 * the exit code and the exact stdout (one JSON document, or nothing) out. Both the standalone plugin
 * (apps/cni/src/main.ts: process env and stdin) and cilium-agent (`POST /v1/cni`, forwarded by the
 * native bin/cilium-cni) run it, so every CNI behaviour lives here once.
 *
 * Nothing here touches process.env, process.stdout or process.exit. Logs go to the netconf
 * `log-file`, else to `logSink` (default stderr).
 *
 * Start-up cost matters for the standalone plugin: only node:* modules load with this file; the
 * commands (netlink through koffi) are imported lazily.
 */
import { AgentClient } from '@cilium-ts/api';
import { parseCommand, parseEnv, type CniCommand, type CniEnvVars } from './cni-env.js';
import { CniCode, CniError, describeError } from './cni-error.js';
import type { CniAgent, CniContext } from './cni-context.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS } from './cni-version.js';
import { Logger, type LogSink } from './logger.js';
import { decodeStdin, parseNetConf, versionForErrors } from './netconf.js';

export interface RunCniOptions {
  /** CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH (others are ignored). */
  env: CniEnvVars;
  /** The plugin configuration as the runtime wrote it on stdin. */
  stdin: string;
  /**
   * How to reach cilium-agent. Default: an AgentClient on the netconf's `socket-path`. Given, it is
   * used whatever `socket-path` says (the agent passes a client of itself).
   */
  agent?: CniAgent;
  /** Log lines when the netconf has no `log-file`; default stderr. */
  logSink?: LogSink;
  /** Extra fields on every log line (e.g. the caller's pid). */
  logFields?: Record<string, unknown>;
}

export interface CniOutcome {
  /** 0 on success, 1 with an error document on stdout otherwise. */
  exitCode: number;
  /** Exactly what the plugin prints: one JSON document and a newline, or '' (DEL, CHECK, ...). */
  stdout: string;
  /** The command when it could be read (for the caller's own logs). */
  command: CniCommand | undefined;
  /** The spec error code when exitCode is not 0. */
  cniCode: number | undefined;
}

function tryVersion(stdin: string): string | undefined {
  try {
    const v = JSON.parse(stdin) as unknown;
    return v && typeof v === 'object' ? versionForErrors(v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const doc = (d: unknown): string => JSON.stringify(d) + '\n';

export async function runCni(o: RunCniOptions): Promise<CniOutcome> {
  const log = new Logger({ ...(o.logSink ? { sink: o.logSink } : {}), ...(o.logFields ? { base: o.logFields } : {}) });
  let cniVersion = LATEST_VERSION;
  let command: CniCommand | undefined;
  try {
    const stdin = o.stdin;
    cniVersion = tryVersion(stdin) ?? LATEST_VERSION;
    command = parseCommand(o.env);

    if (command === 'VERSION') {
      // Only CNI_COMMAND is required; an empty stdin means "whatever you speak".
      const raw = stdin.trim() === '' ? {} : decodeStdin(stdin);
      const v = versionForErrors(raw) ?? LATEST_VERSION;
      return { exitCode: 0, stdout: doc({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] }), command, cniCode: undefined };
    }

    const env = parseEnv(command, o.env);
    const conf = parseNetConf(decodeStdin(stdin), command);
    log.configure({ debug: conf.enableDebug, file: conf.logFile });
    log.with({ cmd: command, containerID: env.containerId || undefined, ifname: env.ifname || undefined, netns: env.netns || undefined });
    log.debug('invoked', { network: conf.name, cniVersion: conf.cniVersion, args: env.args.all });
    const ctx: CniContext = { env, conf, log, agent: o.agent ?? new AgentClient({ socketPath: conf.socketPath }) };

    let stdout = '';
    switch (command) {
      case 'ADD': {
        const { cmdAdd } = await import('./cmd-add.js');
        stdout = doc(await cmdAdd(ctx));
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
    return { exitCode: 0, stdout, command, cniCode: undefined };
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
    return { exitCode: 1, stdout: doc(err.toResult(cniVersion)), command, cniCode: err.cniCode };
  }
}
