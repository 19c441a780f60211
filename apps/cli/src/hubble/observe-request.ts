// Builds a GetFlowsRequest from `hubble observe` flags, with upstream's semantics: flags of different kinds are
// ANDed, repeated values of one flag are ORed, and "either side" flags (--ip, --pod, --port, --namespace,
// --identity, --label) become two whitelist filters, one for the source side and one for the destination side.
import { clone, create } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  EventTypeFilterSchema,
  FlowFilterSchema,
  GetFlowsRequestSchema,
  TrafficDirection,
  Verdict,
  type FlowFilter,
  type GetFlowsRequest,
} from '@cilium-ts/api/hubble';
import { MESSAGE_TYPE_NAMES, TRACE_POINT_NAMES } from './names.js';
import { HubbleClientError } from './observer-client.js';

export interface ObserveFlags {
  last?: number | undefined;
  first?: number | undefined;
  all?: boolean | undefined;
  follow?: boolean | undefined;
  since?: string | undefined;
  until?: string | undefined;
  fromIp?: string[] | undefined;
  toIp?: string[] | undefined;
  ip?: string[] | undefined;
  fromPod?: string[] | undefined;
  toPod?: string[] | undefined;
  pod?: string[] | undefined;
  namespace?: string[] | undefined;
  fromPort?: string[] | undefined;
  toPort?: string[] | undefined;
  port?: string[] | undefined;
  fromIdentity?: string[] | undefined;
  toIdentity?: string[] | undefined;
  identity?: string[] | undefined;
  fromLabel?: string[] | undefined;
  toLabel?: string[] | undefined;
  label?: string[] | undefined;
  verdict?: string[] | undefined;
  protocol?: string[] | undefined;
  type?: string[] | undefined;
  nodeName?: string[] | undefined;
  trafficDirection?: string[] | undefined;
  isReply?: boolean | undefined;
}

/** Default number of flows when neither following nor bounded by time (as upstream). */
export const DEFAULT_LAST = 20;

function bad(what: string, hint: string): HubbleClientError {
  return new HubbleClientError('HUBBLE_BAD_FLAG', what, hint);
}

function parseVerdict(v: string): Verdict {
  const key = v.toUpperCase();
  const val = (Verdict as unknown as Record<string, number | string>)[key];
  if (typeof val !== 'number' || key === 'VERDICT_UNKNOWN') {
    const names = Object.keys(Verdict).filter((k) => Number.isNaN(Number(k)) && k !== 'VERDICT_UNKNOWN');
    throw bad(`invalid --verdict "${v}"`, `use one of ${names.join(', ')}`);
  }
  return val as Verdict;
}

function parseDirection(v: string): TrafficDirection {
  const key = v.toUpperCase();
  if (key === 'INGRESS') return TrafficDirection.INGRESS;
  if (key === 'EGRESS') return TrafficDirection.EGRESS;
  throw bad(`invalid --traffic-direction "${v}"`, 'use ingress or egress');
}

function parseType(v: string): ReturnType<typeof create<typeof EventTypeFilterSchema>> {
  const [name, sub] = v.split(':', 2) as [string, string | undefined];
  const type = MESSAGE_TYPE_NAMES[name] ?? (/^\d+$/.test(name) ? Number(name) : undefined);
  if (type === undefined) {
    throw bad(`invalid --type "${v}"`, `use one of ${Object.keys(MESSAGE_TYPE_NAMES).join(', ')} (optionally type:subtype)`);
  }
  if (sub === undefined || sub === '') return create(EventTypeFilterSchema, { type });
  let subType: number | undefined = /^\d+$/.test(sub) ? Number(sub) : undefined;
  if (subType === undefined && name === 'trace') {
    const hit = Object.entries(TRACE_POINT_NAMES).find(([, n]) => n === sub);
    if (hit) subType = Number(hit[0]);
  }
  if (subType === undefined) {
    throw bad(`invalid --type subtype "${sub}"`, `for trace use one of ${Object.values(TRACE_POINT_NAMES).join(', ')}, or a number`);
  }
  return create(EventTypeFilterSchema, { type, matchSubType: true, subType });
}

function parseIdentity(v: string): number {
  if (!/^\d+$/.test(v)) throw bad(`invalid identity "${v}"`, 'a security identity is a number');
  return Number(v);
}

function checkPort(v: string): string {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw bad(`invalid port "${v}"`, 'a port is a number 0..65535');
  return v;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** RFC 3339 time, or a duration back from now ("5m", "1h30m", "90s"). */
export function parseTime(v: string, now = Date.now()): Timestamp {
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    return timestampFromMs(now - ms);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw bad(`invalid time "${v}"`, 'use RFC 3339 (2024-01-02T15:04:05Z) or a duration back from now (5m, 1h)');
  return timestampFromMs(t);
}

export function buildGetFlowsRequest(o: ObserveFlags): GetFlowsRequest {
  const base = create(FlowFilterSchema, {});
  let any = false;
  const set = <K extends keyof FlowFilter>(k: K, v: FlowFilter[K] | undefined, nonEmpty: boolean): void => {
    if (v !== undefined && nonEmpty) {
      base[k] = v;
      any = true;
    }
  };
  set('sourceIp', o.fromIp, (o.fromIp?.length ?? 0) > 0);
  set('destinationIp', o.toIp, (o.toIp?.length ?? 0) > 0);
  set('sourcePod', o.fromPod, (o.fromPod?.length ?? 0) > 0);
  set('destinationPod', o.toPod, (o.toPod?.length ?? 0) > 0);
  set('sourcePort', o.fromPort?.map(checkPort), (o.fromPort?.length ?? 0) > 0);
  set('destinationPort', o.toPort?.map(checkPort), (o.toPort?.length ?? 0) > 0);
  set('sourceIdentity', o.fromIdentity?.map(parseIdentity), (o.fromIdentity?.length ?? 0) > 0);
  set('destinationIdentity', o.toIdentity?.map(parseIdentity), (o.toIdentity?.length ?? 0) > 0);
  set('sourceLabel', o.fromLabel, (o.fromLabel?.length ?? 0) > 0);
  set('destinationLabel', o.toLabel, (o.toLabel?.length ?? 0) > 0);
  set('verdict', o.verdict?.map(parseVerdict), (o.verdict?.length ?? 0) > 0);
  set('protocol', o.protocol?.map((p) => p.toLowerCase()), (o.protocol?.length ?? 0) > 0);
  set('eventType', o.type?.map(parseType), (o.type?.length ?? 0) > 0);
  set('nodeName', o.nodeName, (o.nodeName?.length ?? 0) > 0);
  set('trafficDirection', o.trafficDirection?.map(parseDirection), (o.trafficDirection?.length ?? 0) > 0);
  if (o.isReply !== undefined) set('reply', [o.isReply], true);

  const eitherIp = o.ip ?? [];
  const eitherPod = [...(o.pod ?? []), ...(o.namespace ?? []).map((ns) => `${ns}/`)];
  const eitherPort = (o.port ?? []).map(checkPort);
  const eitherIdentity = (o.identity ?? []).map(parseIdentity);
  const eitherLabel = o.label ?? [];
  const sided = eitherIp.length + eitherPod.length + eitherPort.length + eitherIdentity.length + eitherLabel.length > 0;

  const whitelist: FlowFilter[] = [];
  if (sided) {
    const left = clone(FlowFilterSchema, base);
    const right = clone(FlowFilterSchema, base);
    if (eitherIp.length) [left.sourceIp, right.destinationIp] = [[...left.sourceIp, ...eitherIp], [...right.destinationIp, ...eitherIp]];
    if (eitherPod.length) [left.sourcePod, right.destinationPod] = [[...left.sourcePod, ...eitherPod], [...right.destinationPod, ...eitherPod]];
    if (eitherPort.length) [left.sourcePort, right.destinationPort] = [[...left.sourcePort, ...eitherPort], [...right.destinationPort, ...eitherPort]];
    if (eitherIdentity.length)
      [left.sourceIdentity, right.destinationIdentity] = [[...left.sourceIdentity, ...eitherIdentity], [...right.destinationIdentity, ...eitherIdentity]];
    if (eitherLabel.length) [left.sourceLabel, right.destinationLabel] = [[...left.sourceLabel, ...eitherLabel], [...right.destinationLabel, ...eitherLabel]];
    whitelist.push(left, right);
  } else if (any) {
    whitelist.push(base);
  }

  if (o.first !== undefined && o.follow) throw bad('--first cannot be combined with --follow', 'use --last with --follow');
  const req = create(GetFlowsRequestSchema, { whitelist, follow: o.follow ?? false });
  if (o.since !== undefined) req.since = parseTime(o.since);
  if (o.until !== undefined) req.until = parseTime(o.until);
  if (o.first !== undefined) {
    req.first = true;
    req.number = BigInt(o.first);
  } else if (o.last !== undefined) {
    req.number = BigInt(o.last);
  } else if (!o.all && !o.follow && o.since === undefined && o.until === undefined) {
    req.number = BigInt(DEFAULT_LAST);
  }
  return req;
}
