/**
 * `POST /v1/cni`: one CNI invocation forwarded by the native bin/cilium-cni (apps/cni/shim). The
 * CNI_* variables come as x-cni-* headers, the plugin config as the raw body; the plugin logic
 * (@cilium-ts/cni's runCni, the same code as the standalone plugin) runs here, in the agent's
 * process and network namespace (the node's, where a runtime runs plugins). The answer is always
 * 200: the body is the plugin's stdout, `x-cni-exit-code` its exit code. Anything else tells the
 * shim that this agent does not take CNI calls, and it runs the standalone plugin instead.
 *
 * The plugin still reaches IPAM and endpoints through the REST API's routes, so each keeps its one
 * implementation and its checks: in-process through ApiServer.inject when given the server (no
 * socket round trip), else with an AgentClient on this agent's own socket.
 *
 * A plugin acts in the network namespace it is run in. The shim says which one that is
 * (`x-cni-caller-netns: <dev>:<inode>` of /proc/self/ns/net); a call from another netns than the
 * agent's is declined with 409, and the shim runs the standalone plugin where it was called.
 */
import { statSync } from 'node:fs';
import { AgentClient } from '@cilium-ts/api';
import { runCni, type CniAgent, type CniEnvVars } from '@cilium-ts/cni';
import type { ApiServer, Handler, HandlerRequest } from '../api/api-server.js';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';

/** Request header -> the CNI variable it carries. */
export const CNI_HEADERS: Readonly<Record<string, string>> = {
  'x-cni-command': 'CNI_COMMAND',
  'x-cni-containerid': 'CNI_CONTAINERID',
  'x-cni-netns': 'CNI_NETNS',
  'x-cni-ifname': 'CNI_IFNAME',
  'x-cni-args': 'CNI_ARGS',
  'x-cni-path': 'CNI_PATH',
};

export interface CniHandlerOptions {
  /** The agent's API socket (the plugin's AgentClient talks to it when `api` is not given). */
  socketPath: string;
  /** The API server this route is on: the plugin calls its routes in-process. */
  api?: ApiServer;
  log: Logger;
  /** Overrides the AgentClient (tests). */
  agent?: CniAgent;
}

/** The CNI variables of a request: only the x-cni-* headers that were sent. */
export function cniEnvFromHeaders(headers: HandlerRequest['headers']): CniEnvVars {
  const env: Record<string, string> = {};
  for (const [h, name] of Object.entries(CNI_HEADERS)) {
    const v = headers[h];
    if (typeof v === 'string') env[name] = v;
  }
  return env;
}

export function cniHandler(o: CniHandlerOptions): Handler {
  const api = o.api;
  // In-process: the same routes, handlers and error mapping as the REST API, without a socket.
  const inject = api
    ? async (method: string, path: string, body: unknown) => {
        const r = await api.inject(method, path, body);
        return { status: r.status, body: r.text };
      }
    : undefined;
  const agent = o.agent ?? new AgentClient({ socketPath: o.socketPath, ...(inject ? { transport: inject } : {}) });
  let served = 0;
  return async ({ headers, rawBody }) => {
    const caller = headers['x-cni-caller-netns'];
    if (typeof caller === 'string') {
      const own = ownNetns();
      if (caller !== own) {
        throw new AgentError('CNI_FOREIGN_NETNS', `the CNI call comes from network namespace ${caller}, the agent runs in ${own}`, 'run the plugin in the network namespace of cilium-agent; bin/cilium-cni runs the standalone plugin meanwhile', 409);
      }
    }
    const env = cniEnvFromHeaders(headers);
    const t0 = performance.now();
    const r = await runCni({ env, stdin: rawBody.toString('utf8'), agent, logFields: { via: 'agent' } });
    served++;
    // debug: one line per pod operation would be most of an agent's log at info.
    o.log.debug(
      {
        cniCommand: env['CNI_COMMAND'],
        containerID: env['CNI_CONTAINERID'],
        ifname: env['CNI_IFNAME'],
        exitCode: r.exitCode,
        ...(r.cniCode !== undefined ? { cniCode: r.cniCode } : {}),
        durationMs: Math.round((performance.now() - t0) * 10) / 10,
        served,
      },
      'CNI request served',
    );
    return { status: 200, text: r.stdout, contentType: 'application/json', headers: { 'x-cni-exit-code': String(r.exitCode) } };
  };
}

/** `<dev>:<inode>` of the agent's network namespace (the main thread's: it never stays elsewhere). */
function ownNetns(): string {
  const st = statSync('/proc/self/ns/net', { bigint: true });
  return `${st.dev}:${st.ino}`;
}
