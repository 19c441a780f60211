// Hubble's flow printer (`hubble observe -o compact|table|dict|json|jsonpb`), output byte for byte as the
// upstream CLI prints it (see ../shared/specs/hubble-api/golden/printer-cases.yaml). Colour is never used.
import { toJsonString } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  AuthType,
  DebugCapturePoint,
  GetFlowsResponseSchema,
  L7FlowType,
  LostEventSource,
  SocketTranslationPoint,
  TrafficDirection,
  Verdict,
  type Flow,
  type GetFlowsResponse,
} from '@cilium-ts/api/hubble';
import {
  MESSAGE_TYPE_CAPTURE,
  MESSAGE_TYPE_DROP,
  MESSAGE_TYPE_POLICY_VERDICT,
  MESSAGE_TYPE_TRACE,
  MESSAGE_TYPE_TRACE_SOCK,
  dropReasonText,
  formatIdentity,
  policyMatchTypeText,
  traceObservationPointName,
} from './names.js';
import { TabWriter } from './tab-writer.js';

export type OutputFormat = 'compact' | 'table' | 'tab' | 'dict' | 'json' | 'jsonpb';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['compact', 'table', 'tab', 'dict', 'json', 'jsonpb'];

export interface FlowPrinterOptions {
  output: OutputFormat;
  /** print the node name (hubble --print-node-name) */
  nodeName?: boolean;
  /** render timestamps in UTC instead of the local time zone */
  utc?: boolean;
  /** show pod/service names instead of IPs when known (hubble --ip-translation, default true) */
  ipTranslation?: boolean;
  /** flush table rows after every flow (for --follow) */
  flushEachLine?: boolean;
  write: (s: string) => void;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Go's time.StampMilli ("Jan _2 15:04:05.000"); "N/A" for a missing timestamp. */
export function formatTimestamp(ts: Timestamp | undefined, utc: boolean): string {
  if (!ts) return 'N/A';
  const ms = Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);
  const d = new Date(ms);
  const [mon, day, h, m, s] = utc
    ? [d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  const milli = String(Math.floor(ts.nanos / 1e6)).padStart(3, '0');
  return `${MONTHS[mon]} ${String(day).padStart(2, ' ')} ${pad2(h)}:${pad2(m)}:${pad2(s)}.${milli}`;
}

function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function pathJoin(ns: string, name: string): string {
  return ns === '' ? name : `${ns}/${name}`;
}

export function flowPorts(f: Flow): [string, string] {
  const p = f.l4?.protocol;
  switch (p?.case) {
    case 'TCP':
    case 'UDP':
    case 'SCTP':
      return [String(p.value.sourcePort), String(p.value.destinationPort)];
    default:
      return ['', ''];
  }
}

export function flowType(f: Flow): string {
  const l7 = f.l7;
  if (l7) {
    let proto = 'l7';
    let type = (L7FlowType[l7.type] ?? String(l7.type)).toLowerCase();
    switch (l7.record.case) {
      case 'http':
        proto = 'http';
        break;
      case 'dns':
        proto = 'dns';
        type += ` ${l7.record.value.observationSource}`;
        break;
      case 'kafka':
        proto = 'kafka';
        break;
      default:
        break;
    }
    return `${proto}-${type}`;
  }
  const et = f.eventType;
  switch (et?.type ?? 0) {
    case MESSAGE_TYPE_TRACE:
      return traceObservationPointName(et?.subType ?? 0);
    case MESSAGE_TYPE_DROP:
      return dropReasonText(et?.subType ?? 0);
    case MESSAGE_TYPE_POLICY_VERDICT:
      return `policy-verdict:${policyMatchTypeText(f.policyMatchType)} ${TrafficDirection[f.trafficDirection] ?? String(f.trafficDirection)}`;
    case MESSAGE_TYPE_CAPTURE:
      return DebugCapturePoint[f.debugCapturePoint] ?? String(f.debugCapturePoint);
    case MESSAGE_TYPE_TRACE_SOCK:
      switch (f.sockXlatePoint) {
        case SocketTranslationPoint.SOCK_XLATE_POINT_POST_DIRECTION_FWD:
          return 'post-xlate-fwd';
        case SocketTranslationPoint.SOCK_XLATE_POINT_POST_DIRECTION_REV:
          return 'post-xlate-rev';
        case SocketTranslationPoint.SOCK_XLATE_POINT_PRE_DIRECTION_FWD:
          return 'pre-xlate-fwd';
        case SocketTranslationPoint.SOCK_XLATE_POINT_PRE_DIRECTION_REV:
          return 'pre-xlate-rev';
        default:
          return SocketTranslationPoint[f.sockXlatePoint] ?? String(f.sockXlatePoint);
      }
    default:
      return 'UNKNOWN';
  }
}

export function verdictText(f: Flow): string {
  const pv = f.eventType?.type === MESSAGE_TYPE_POLICY_VERDICT;
  switch (f.verdict) {
    case Verdict.FORWARDED:
    case Verdict.REDIRECTED:
      return pv ? 'ALLOWED' : Verdict[f.verdict];
    case Verdict.DROPPED:
    case Verdict.ERROR:
      return pv ? 'DENIED' : Verdict[f.verdict];
    case Verdict.AUDIT:
      return pv ? 'AUDITED' : Verdict[f.verdict];
    default:
      return Verdict[f.verdict] ?? String(f.verdict);
  }
}

export function summaryText(f: Flow): string {
  let s = '';
  if (f.ipTraceId && f.ipTraceId.traceId > 0n) s += `IP Trace ID: ${f.ipTraceId.traceId}; `;
  s += f.Summary;
  if (f.authType !== AuthType.DISABLED) s += `; ${AuthType[f.authType] ?? String(f.authType)}`;
  return s;
}

export class FlowPrinter {
  private line = 0;
  private readonly tw: TabWriter | undefined;
  private readonly opts: Required<Omit<FlowPrinterOptions, 'write'>> & { write: (s: string) => void };

  constructor(opts: FlowPrinterOptions) {
    this.opts = {
      output: opts.output,
      nodeName: opts.nodeName ?? false,
      utc: opts.utc ?? false,
      ipTranslation: opts.ipTranslation ?? true,
      flushEachLine: opts.flushEachLine ?? false,
      write: opts.write,
    };
    if (opts.output === 'table' || opts.output === 'tab') this.tw = new TabWriter(opts.write);
  }

  private hostname(ip: string, port: string, ns: string, pod: string, svc: string, names: string[]): string {
    let host = ip;
    if (this.opts.ipTranslation) {
      if (pod !== '') host = pathJoin(ns, pod);
      else if (svc !== '') host = pathJoin(ns, svc);
      else if (names.length > 0) host = names.join(',');
    }
    return port !== '' && port !== '0' ? joinHostPort(host, port) : host;
  }

  hostNames(f: Flow): [string, string] {
    if (!f.IP) {
      if (f.ethernet) return [f.ethernet.source, f.ethernet.destination];
      return ['', ''];
    }
    let srcNs = f.source?.namespace ?? '';
    let dstNs = f.destination?.namespace ?? '';
    const srcPod = f.source?.podName ?? '';
    const dstPod = f.destination?.podName ?? '';
    let srcSvc = '';
    let dstSvc = '';
    if (f.sourceService) {
      srcNs = f.sourceService.namespace;
      srcSvc = f.sourceService.name;
    }
    if (f.destinationService) {
      dstNs = f.destinationService.namespace;
      dstSvc = f.destinationService.name;
    }
    const [sp, dp] = flowPorts(f);
    return [
      this.hostname(f.IP.source, sp, srcNs, srcPod, srcSvc, f.sourceNames),
      this.hostname(f.IP.destination, dp, dstNs, dstPod, dstSvc, f.destinationNames),
    ];
  }

  /** Writes one GetFlows response (flows; lost-event notices; node status events are ignored). */
  writeResponse(res: GetFlowsResponse): void {
    switch (res.responseTypes.case) {
      case 'flow':
        this.writeFlow(res);
        return;
      case 'lostEvents': {
        if (this.opts.output === 'json' || this.opts.output === 'jsonpb') {
          this.opts.write(toJsonString(GetFlowsResponseSchema, res, { useProtoFieldName: true }) + '\n');
          return;
        }
        const le = res.responseTypes.value;
        const src = LostEventSource[le.source] ?? String(le.source);
        this.opts.write(`EVENTS LOST: ${src} CPU(${le.cpu ?? 0}) ${le.numEventsLost}\n`);
        return;
      }
      default:
        return;
    }
  }

  writeFlow(res: GetFlowsResponse): void {
    const f = res.responseTypes.case === 'flow' ? res.responseTypes.value : undefined;
    if (!f) return;
    const o = this.opts;
    const ts = formatTimestamp(f.time, o.utc);
    switch (o.output) {
      case 'table':
      case 'tab': {
        const tw = this.tw!;
        const [src, dst] = this.hostNames(f);
        if (this.line === 0) {
          tw.write('TIMESTAMP\t');
          if (o.nodeName) tw.write('NODE\t');
          tw.write('SOURCE\tDESTINATION\tTYPE\tVERDICT\tSUMMARY\n');
        }
        tw.write(`${ts}\t`);
        if (o.nodeName) tw.write(`${f.nodeName}\t`);
        tw.write(`${src}\t${dst}\t${flowType(f)}\t${verdictText(f)}\t${summaryText(f)}\n`);
        if (o.flushEachLine) tw.flush();
        break;
      }
      case 'dict': {
        const [src, dst] = this.hostNames(f);
        let s = '';
        if (this.line !== 0) s += '------------\n';
        s += `  TIMESTAMP: ${ts}\n`;
        if (o.nodeName) s += `       NODE: ${f.nodeName}\n`;
        s +=
          `     SOURCE: ${src}\n` +
          `DESTINATION: ${dst}\n` +
          `       TYPE: ${flowType(f)}\n` +
          `    VERDICT: ${verdictText(f)}\n` +
          `    SUMMARY: ${summaryText(f)}\n`;
        o.write(s);
        break;
      }
      case 'compact': {
        let [src, dst] = this.hostNames(f);
        let srcId = formatIdentity(f.source?.identity ?? 0);
        let dstId = formatIdentity(f.destination?.identity ?? 0);
        const node = o.nodeName ? ` [${f.nodeName}]` : '';
        let arrow = '->';
        if (f.isReply === undefined) {
          arrow = '<>';
        } else if (f.isReply) {
          [src, dst] = [dst, src];
          [srcId, dstId] = [dstId, srcId];
          arrow = '<-';
        }
        o.write(`${ts}${node}: ${src} ${srcId} ${arrow} ${dst} ${dstId} ${flowType(f)} ${verdictText(f)} (${summaryText(f)})\n`);
        break;
      }
      case 'json':
      case 'jsonpb':
        o.write(toJsonString(GetFlowsResponseSchema, res, { useProtoFieldName: true }) + '\n');
        break;
    }
    this.line++;
  }

  /** Flushes buffered table output. */
  close(): void {
    this.tw?.flush();
  }
}
