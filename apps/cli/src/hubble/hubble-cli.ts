// `hubble` command line: observe, status (the subset of upstream's CLI the project needs), against the
// agent's observer socket or any Hubble-compatible gRPC server.
import { Command, Option } from 'commander';
import { Code, ConnectError } from '@connectrpc/connect';
import { FlowPrinter, OUTPUT_FORMATS, type OutputFormat } from './flow-printer.js';
import { buildGetFlowsRequest, type ObserveFlags } from './observe-request.js';
import { health } from '@cilium-ts/api/hubble';
import { DEFAULT_HUBBLE_SERVER, HubbleClientError, createHealthClient, createObserverClient } from './observer-client.js';
import { formatServerStatus } from './status-printer.js';

export interface HubbleIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** aborted on SIGINT/SIGTERM by the entry point */
  signal?: AbortSignal;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').filter((x) => x !== '')];
const collectOne = (v: string, prev: string[] = []): string[] => [...prev, v];
const positiveInt = (flag: string) => (v: string): number => {
  if (!/^\d+$/.test(v)) throw new HubbleClientError('HUBBLE_BAD_FLAG', `invalid ${flag} "${v}"`, `${flag} takes a non-negative integer`);
  return Number(v);
};

function serverOption(env: NodeJS.ProcessEnv): Option {
  return new Option('--server <address>', 'address of a Hubble server: unix:///path/to.sock or host:port (env HUBBLE_SERVER)').default(
    env['HUBBLE_SERVER'] ?? DEFAULT_HUBBLE_SERVER,
  );
}

function outputOption(def: OutputFormat): Option {
  return new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]).default(def);
}

function describeError(e: unknown, server: string): { msg: string; hint: string } {
  if (e instanceof HubbleClientError) return { msg: e.message, hint: e.hint };
  if (e instanceof ConnectError) {
    const cause = (e.cause as NodeJS.ErrnoException | undefined)?.code;
    const dialFailed = cause !== undefined && ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(cause);
    if (e.code === Code.Unavailable && e.rawMessage.startsWith('no Hubble peer connected')) {
      // Hubble Relay answered but reaches no node
      return { msg: `${server}: ${e.rawMessage}`, hint: "check the relay's --peer-service and the agents' hubble-listen-address (see the hubble-relay log)" };
    }
    if (dialFailed || e.code === Code.Unavailable || e.code === Code.DeadlineExceeded) {
      return {
        msg: `failed to connect to '${server}': ${e.rawMessage}`,
        hint: 'is cilium-agent running with Hubble enabled? pass --server unix:///path/to/hubble.sock or set HUBBLE_SERVER',
      };
    }
    if (e.code === Code.InvalidArgument) return { msg: e.rawMessage, hint: 'check the filter flags' };
    return { msg: `${Code[e.code] ?? e.code}: ${e.rawMessage}`, hint: 'the server rejected the request' };
  }
  return { msg: e instanceof Error ? e.message : String(e), hint: '' };
}

export function buildHubbleProgram(io: HubbleIo): Command {
  const program = new Command('hubble')
    .description('Hubble: network flows observed by cilium-ts')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError();

  program
    .command('observe')
    .description('observe flows of a Hubble server')
    .addOption(serverOption(io.env))
    .addOption(outputOption('compact'))
    .option('--last <n>', 'get the last N flows (default 20 when not following)', positiveInt('--last'))
    .option('--first <n>', 'get the first N flows stored', positiveInt('--first'))
    .option('--all', 'get all stored flows')
    .option('-f, --follow', 'follow new flows as they are observed')
    .option('--since <time>', 'flows since this time: RFC 3339 or a duration back from now (5m)')
    .option('--until <time>', 'flows until this time: RFC 3339 or a duration back from now')
    .option('--print-node-name', 'print the node name in each line')
    .option('--no-ip-translation', 'show IP addresses instead of pod and service names')
    .option('--utc', 'print timestamps in UTC')
    .option('--from-ip <ip>', 'source IP or CIDR (repeatable)', collect)
    .option('--to-ip <ip>', 'destination IP or CIDR (repeatable)', collect)
    .option('--ip <ip>', 'source or destination IP or CIDR (repeatable)', collect)
    .option('--from-pod <[ns/]pod>', 'source pod name prefix (repeatable)', collect)
    .option('--to-pod <[ns/]pod>', 'destination pod name prefix (repeatable)', collect)
    .option('--pod <[ns/]pod>', 'source or destination pod name prefix (repeatable)', collect)
    .option('-n, --namespace <ns>', 'source or destination namespace (repeatable)', collect)
    .option('--from-port <port>', 'source port (repeatable)', collect)
    .option('--to-port <port>', 'destination port (repeatable)', collect)
    .option('--port <port>', 'source or destination port (repeatable)', collect)
    .option('--from-identity <id>', 'source security identity (repeatable)', collect)
    .option('--to-identity <id>', 'destination security identity (repeatable)', collect)
    .option('--identity <id>', 'source or destination security identity (repeatable)', collect)
    .option('--from-label <label>', 'source label (repeatable)', collectOne)
    .option('--to-label <label>', 'destination label (repeatable)', collectOne)
    .option('-l, --label <label>', 'source or destination label (repeatable)', collectOne)
    .option('--verdict <verdict>', 'FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED, TRANSLATED (repeatable)', collect)
    .option('--protocol <proto>', 'tcp, udp, icmp, icmpv4, sctp, http, dns (repeatable)', collect)
    .option('-t, --type <type[:subtype]>', 'event type: drop, trace, policy-verdict, ... e.g. trace:to-endpoint (repeatable)', collect)
    .option('--node-name <name>', 'node name pattern (repeatable)', collect)
    .option('--traffic-direction <dir>', 'ingress or egress (repeatable)', collect)
    .addOption(new Option('--is-reply <bool>', 'only replies (true) or only requests (false)').choices(['true', 'false']))
    .action(async (opts: Record<string, unknown>) => {
      const server = String(opts['server']);
      const flags: ObserveFlags = {
        last: opts['last'] as number | undefined,
        first: opts['first'] as number | undefined,
        all: opts['all'] as boolean | undefined,
        follow: opts['follow'] as boolean | undefined,
        since: opts['since'] as string | undefined,
        until: opts['until'] as string | undefined,
        fromIp: opts['fromIp'] as string[] | undefined,
        toIp: opts['toIp'] as string[] | undefined,
        ip: opts['ip'] as string[] | undefined,
        fromPod: opts['fromPod'] as string[] | undefined,
        toPod: opts['toPod'] as string[] | undefined,
        pod: opts['pod'] as string[] | undefined,
        namespace: opts['namespace'] as string[] | undefined,
        fromPort: opts['fromPort'] as string[] | undefined,
        toPort: opts['toPort'] as string[] | undefined,
        port: opts['port'] as string[] | undefined,
        fromIdentity: opts['fromIdentity'] as string[] | undefined,
        toIdentity: opts['toIdentity'] as string[] | undefined,
        identity: opts['identity'] as string[] | undefined,
        fromLabel: opts['fromLabel'] as string[] | undefined,
        toLabel: opts['toLabel'] as string[] | undefined,
        label: opts['label'] as string[] | undefined,
        verdict: opts['verdict'] as string[] | undefined,
        protocol: opts['protocol'] as string[] | undefined,
        type: opts['type'] as string[] | undefined,
        nodeName: opts['nodeName'] as string[] | undefined,
        trafficDirection: opts['trafficDirection'] as string[] | undefined,
        isReply: opts['isReply'] === undefined ? undefined : opts['isReply'] === 'true',
      };
      const printer = new FlowPrinter({
        output: opts['output'] as OutputFormat,
        nodeName: opts['printNodeName'] === true,
        utc: opts['utc'] === true,
        ipTranslation: opts['ipTranslation'] !== false,
        flushEachLine: flags.follow === true,
        write: io.out,
      });
      try {
        const req = buildGetFlowsRequest(flags);
        const client = createObserverClient(server);
        const call = io.signal ? client.getFlows(req, { signal: io.signal }) : client.getFlows(req);
        for await (const res of call) printer.writeResponse(res);
      } catch (e) {
        if (io.signal?.aborted && e instanceof ConnectError && e.code === Code.Canceled) return;
        const { msg, hint } = describeError(e, server);
        throw new HubbleClientError(e instanceof HubbleClientError ? e.code : 'HUBBLE_OBSERVE', msg, hint);
      } finally {
        printer.close();
      }
    });

  program
    .command('status')
    .description('show the status of a Hubble server')
    .addOption(serverOption(io.env))
    .addOption(outputOption('compact'))
    .action(async (opts: Record<string, unknown>) => {
      const server = String(opts['server']);
      const output = opts['output'] as OutputFormat;
      try {
        // like upstream: the standard gRPC health check first, then ServerStatus
        let hc = 'Ok';
        try {
          const h = await createHealthClient(server, { timeoutMs: 5000 }).check({});
          const Serving = health.HealthCheckResponse_ServingStatus;
          if (h.status !== Serving.SERVING) hc = Serving[h.status] ?? String(h.status);
        } catch (e) {
          if (!(e instanceof ConnectError && e.code === Code.Unimplemented)) throw e;
        }
        if (hc !== 'Ok') throw new HubbleClientError('HUBBLE_UNHEALTHY', `Healthcheck (via ${server}): ${hc}`, 'check the agent log');
        const s = await createObserverClient(server, { timeoutMs: 5000 }).serverStatus({});
        if (output === 'compact') io.out(`Healthcheck (via ${server}): ${hc}\n`);
        io.out(formatServerStatus(s, output));
      } catch (e) {
        if (e instanceof HubbleClientError) throw e;
        const { msg, hint } = describeError(e, server);
        throw new HubbleClientError('HUBBLE_STATUS', msg, hint);
      }
    });

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function runHubble(argv: string[], io: HubbleIo): Promise<number> {
  const program = buildHubbleProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : (ce.exitCode ?? 2);
    }
    if (e instanceof HubbleClientError) {
      io.err(`Error: ${e.message}\n`);
      if (e.hint) io.err(`Hint: ${e.hint}\n`);
      return 1;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
