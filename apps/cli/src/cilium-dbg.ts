import { join } from 'node:path';
import { Command } from 'commander';
import { AgentClient, DEFAULT_SOCKET_PATH, parseAgentHost, MAP_CT4, MAP_ENDPOINTS, MAP_METRICS, MAP_TUNNEL, tunnelKeyCodec, tunnelValueCodec, metricsKeyCodec, metricsValueCodec, ctEntryCodec, ctKey4Codec, endpointInfoCodec, endpointKeyCodec, type Endpoint } from '@cilium-ts/api';
import { BpfMap } from '@cilium-ts/ebpf';
import { CliError } from './cli-error.js';
import { formatTable } from './dbg/format-table.js';
import { ctLine, ctRow } from './dbg/ct-format.js';
import { dropReasonText } from './hubble/names.js';
import { bpfLbListText, kprStatusText, serviceListText } from './dbg/service-format.js';
import { MAP_LB4_BACKENDS, MAP_LB4_SERVICES, lb4BackendCodec, lb4KeyCodec, lb4ServiceCodec, u32KeyCodec } from '@cilium-ts/api';

const program = new Command('cilium-dbg')
  .description('cilium-ts agent debug CLI')
  .option('-H, --host <uri>', 'agent API socket (unix:///path)', process.env.CILIUM_SOCK ?? `unix://${DEFAULT_SOCKET_PATH}`)
  .option('--bpf-root <dir>', 'bpffs root of the agent (default: asked from the agent)');

const client = () => new AgentClient({ socketPath: parseAgentHost(program.opts<{ host: string }>().host) });
const out = (s: string): void => void process.stdout.write(s);
const json = (v: unknown): void => out(JSON.stringify(v, null, 2) + '\n');

/** Where the agent pins its maps: from --bpf-root, else from the agent's /v1/config. */
async function pinDir(): Promise<string> {
  const root = program.opts<{ bpfRoot?: string }>().bpfRoot;
  if (root) return join(root, 'tc', 'globals');
  return (await client().config()).status['bpf-pin-dir'];
}

function openPinned(dir: string, name: string): BpfMap {
  return BpfMap.fromPinned(join(dir, name));
}

program
  .command('status')
  .description('agent health summary')
  .option('-o, --output <fmt>', 'json for the raw status')
  .action(async (o: { output?: string }) => {
    const s = await client().healthz();
    if (o.output === 'json') return json(s);
    const healthy = s.controllers.filter((c) => c.status['consecutive-failure-count'] === 0).length;
    const obs = s.hubble.observer;
    const lines: Array<[string, string]> = [
        ['KVStore:', 'Disabled'],
        ['Kubernetes:', s.kubernetes ? `${s.kubernetes.state}   ${s.kubernetes.msg ?? ''}`.trimEnd() : 'Disabled'],
        ['Cilium:', `${s.cilium.state}   ${s.cilium.msg ?? ''}`.trimEnd()],
        ['Node:', s['node-name']],
        ['Datapath mode:', s['datapath-mode']],
        ['IPAM:', `IPv4: ${s.ipam['ipv4-allocated']}/${s.ipam['ipv4-capacity']} allocated from ${s.ipam['alloc-range']}`],
        ['Endpoints:', String(s['endpoint-count'])],
        ['Controller Status:', `${healthy}/${s.controllers.length} healthy`],
        ['Hubble:', obs ? `${s.hubble.state}   Current/Max Flows: ${obs['current-flows']}/${obs['max-flows']}, Seen: ${obs['seen-flows']}` : s.hubble.state],
        ['Uptime:', `${s['uptime-seconds']}s`],
    ];
    const text = lines.map(([k, v]) => `${k.padEnd(26)}${v}\n`);
    // KubeProxyReplacement (and its details) right after Kubernetes, as Cilium orders them
    text.splice(2, 0, kprStatusText(s['kube-proxy-replacement']));
    out(text.join(''));
    if (s.cilium.state !== 'Ok') process.exitCode = 1;
  });

const endpoint = program.command('endpoint').description('manage endpoints');
endpoint
  .command('list')
  .description('list local endpoints')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const eps = await client().endpointList();
    if (o.output === 'json') return json(eps);
    out(endpointTable(eps));
  });
endpoint
  .command('get <id>')
  .description('show one endpoint (numeric id or container-id:<id>)')
  .action(async (id: string) => {
    const e = await client().endpointGet(id);
    if (!e) throw new CliError('ENDPOINT_NOT_FOUND', `endpoint ${id} not found`, 'list them with `cilium-dbg endpoint list`');
    json(e);
  });

export function endpointTable(eps: Endpoint[]): string {
  const rows = [
    ['ENDPOINT', 'POLICY (ingress)', 'POLICY (egress)', 'IDENTITY', 'LABELS (source:key[=value])', 'IPv6', 'IPv4', 'STATUS'],
    ['', 'ENFORCEMENT', 'ENFORCEMENT', '', '', '', '', ''],
  ];
  for (const e of eps) {
    const ext = e.status['external-identifiers'];
    const labels = e.status.identity.labels.length ? e.status.identity.labels : [ext['pod-name'] ? `k8s:pod=${ext['pod-name']}` : `container:${ext['container-id'].slice(0, 12)}`];
    rows.push([String(e.id), 'Disabled', 'Disabled', String(e.status.identity.id), labels[0] ?? '', '', e.status.networking.addressing[0]?.ipv4 ?? '', e.status.state]);
    for (const l of labels.slice(1)) rows.push(['', '', '', '', l, '', '', '']);
  }
  return formatTable(rows);
}

const bpf = program.command('bpf').description('inspect the datapath maps');
bpf
  .command('ct')
  .description('connection tracking')
  .command('list <scope>')
  .description('list CT entries (scope: global)')
  .option('-o, --output <fmt>', 'json')
  .action(async (scope: string, o: { output?: string }) => {
    if (scope !== 'global') throw new CliError('DBG_BAD_SCOPE', `unknown CT scope "${scope}"`, 'use `bpf ct list global`');
    const map = openPinned(await pinDir(), MAP_CT4).typed(ctKey4Codec, ctEntryCodec);
    const now = process.hrtime.bigint();
    const rows = map.lookupBatch().map(([k, v]) => ctRow(k, v, now));
    if (o.output === 'json') return json(rows);
    out(rows.map(ctLine).join('\n') + (rows.length ? '\n' : ''));
  });
bpf
  .command('endpoint')
  .description('local endpoint map')
  .command('list')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const map = openPinned(await pinDir(), MAP_ENDPOINTS).typed(endpointKeyCodec, endpointInfoCodec);
    const rows = [...map.entries()].map(([k, v]) => ({ ip: k.ip, id: v.epId, ifindex: v.ifindex, mac: v.mac, nodeMac: v.nodeMac, flags: v.flags, secId: v.secId }));
    if (o.output === 'json') return json(rows);
    out(formatTable([['IP ADDRESS', 'LOCAL ENDPOINT INFO'], ...rows.map((r) => [`${r.ip}:0`, `id=${r.id} sec_id=${r.secId} flags=0x${r.flags.toString(16).padStart(4, '0')} ifindex=${r.ifindex} mac=${r.mac} nodemac=${r.nodeMac}`])]));
  });

bpf
  .command('tunnel')
  .description('tunnel map: remote pod CIDRs and the node each is reached through (tunnel mode)')
  .command('list')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const map = openPinned(await pinDir(), MAP_TUNNEL).typed(tunnelKeyCodec, tunnelValueCodec);
    const rows = [...map.entries()].map(([k, v]) => ({ prefix: `${k.ip}/${k.prefixLen}`, tunnelEndpoint: v.remoteIp })).sort((a, b) => a.prefix.localeCompare(b.prefix));
    if (o.output === 'json') return json(rows);
    out(formatTable([['TUNNEL', 'VALUE'], ...rows.map((r) => [r.prefix, r.tunnelEndpoint])]));
  });

bpf
  .command('metrics')
  .description('datapath packet counters by reason and direction')
  .command('list')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const map = openPinned(await pinDir(), MAP_METRICS).typedPerCpu(metricsKeyCodec, metricsValueCodec);
    const dirName = (d: number) => (d === 1 ? 'EGRESS' : d === 2 ? 'INGRESS' : 'UNKNOWN');
    const rows = [...map.entries()]
      .map(([k, perCpu]) => ({
        reasonCode: k.reason,
        reason: dropReasonText(k.reason),
        direction: dirName(k.dir),
        packets: Number(perCpu.reduce((a, v) => a + v.packets, 0n)),
        bytes: Number(perCpu.reduce((a, v) => a + v.bytes, 0n)),
      }))
      .sort((a, b) => a.reasonCode - b.reasonCode || a.direction.localeCompare(b.direction));
    if (o.output === 'json') return json(rows);
    out(formatTable([['REASON', 'DIRECTION', 'PACKETS', 'BYTES'], ...rows.map((r) => [r.reason, r.direction, String(r.packets), String(r.bytes)])]));
  });

// ---- services (Cilium's `service list/get`, `bpf lb list`) ----
const service = program.command('service').description('manage services & load balancers');
service
  .command('list')
  .alias('ls')
  .description('list services')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const list = await client().serviceList();
    if (o.output === 'json') return json(list);
    out(serviceListText(list));
  });
service
  .command('get <id>')
  .description('display service information')
  .option('-o, --output <fmt>', 'json')
  .action(async (id: string, o: { output?: string }) => {
    const n = Number(id);
    if (!/^\d+$/.test(id) || n < 1 || n > 65535) throw new CliError('DBG_BAD_SERVICE_ID', `"${id}" is not a service id`, 'use the ID column of `cilium-dbg service list`');
    const s = await client().serviceGet(n);
    if (!s) throw new CliError('SERVICE_NOT_FOUND', `service ${id} not found`, 'list them with `cilium-dbg service list`');
    if (o.output === 'json') return json(s);
    out(serviceListText([s]));
  });
service
  .command('delete <id>')
  .description('delete a service')
  .action(async (id: string) => {
    const n = Number(id);
    if (!/^\d+$/.test(id) || n < 1 || n > 65535) throw new CliError('DBG_BAD_SERVICE_ID', `"${id}" is not a service id`, 'use the ID column of `cilium-dbg service list`');
    if (!(await client().serviceDelete(n))) throw new CliError('SERVICE_NOT_FOUND', `service ${id} not found`, 'list them with `cilium-dbg service list`');
    out(`Service ${id} deleted successfully\n`);
  });

bpf
  .command('lb')
  .description('load-balancing configuration')
  .command('list')
  .alias('ls')
  .description('list load-balancing configuration (frontends with their backend slots)')
  .option('-o, --output <fmt>', 'json')
  .action(async (o: { output?: string }) => {
    const dir = await pinDir();
    const svcs = openPinned(dir, MAP_LB4_SERVICES).typed(lb4KeyCodec, lb4ServiceCodec).lookupBatch();
    const bes = new Map(openPinned(dir, MAP_LB4_BACKENDS).typed(u32KeyCodec, lb4BackendCodec).lookupBatch());
    if (o.output === 'json') return json({ services: svcs.map(([k, v]) => ({ ...k, ...v })), backends: [...bes].map(([id, b]) => ({ id, ...b })) });
    out(bpfLbListText(svcs, bes));
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { code?: string; message?: string; hint?: string };
  process.stderr.write(`Error: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
  process.exit(1);
}
