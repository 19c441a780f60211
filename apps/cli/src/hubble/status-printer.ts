// `hubble status` output (compact, dict, table, json) for an observer.ServerStatusResponse.
import { toJsonString } from '@bufbuild/protobuf';
import { ServerStatusResponseSchema, type ServerStatusResponse } from '@cilium-ts/api/hubble';
import type { OutputFormat } from './flow-printer.js';
import { TabWriter } from './tab-writer.js';

/** 2348885 -> "2,348,885" */
export function groupThousands(n: bigint | number): string {
  return BigInt(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Go's time.Duration.String(): "5m1.515181665s", "1.5ms", "0s". */
export function goDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  const sign = neg ? '-' : '';
  const frac = (v: bigint, digits: number): string => {
    // v split into integer and `digits` decimals with trailing zeros removed
    const base = 10n ** BigInt(digits);
    const int = v / base;
    const rest = (v % base).toString().padStart(digits, '0').replace(/0+$/, '');
    return rest === '' ? int.toString() : `${int}.${rest}`;
  };
  if (u < 1_000_000_000n) {
    if (u < 1_000n) return `${sign}${u}ns`;
    if (u < 1_000_000n) return `${sign}${frac(u, 3)}µs`;
    return `${sign}${frac(u, 6)}ms`;
  }
  let out = '';
  const h = u / 3_600_000_000_000n;
  u %= 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u %= 60_000_000_000n;
  if (h > 0n) out += `${h}h`;
  if (h > 0n || m > 0n) out += `${m}m`;
  out += `${frac(u, 9)}s`;
  return sign + out;
}

function flowsPerSecond(s: ServerStatusResponse): string {
  if (s.flowsRate > 0) return s.flowsRate.toFixed(2);
  const up = Number(s.uptimeNs) / 1e9;
  if (up > 0) return (Number(s.seenFlows) / up).toFixed(2);
  return 'N/A';
}

export function formatServerStatus(s: ServerStatusResponse, output: OutputFormat): string {
  const connected = s.numConnectedNodes;
  const unavailable = s.numUnavailableNodes;
  const fps = flowsPerSecond(s);
  switch (output) {
    case 'json':
    case 'jsonpb':
      return toJsonString(ServerStatusResponseSchema, s, { useProtoFieldName: true }) + '\n';
    case 'dict':
      return (
        `          NUM FLOWS: ${groupThousands(s.numFlows)}\n` +
        `          MAX FLOWS: ${groupThousands(s.maxFlows)}\n` +
        `         SEEN FLOWS: ${groupThousands(s.seenFlows)}\n` +
        `   FLOWS PER SECOND: ${fps}\n` +
        `             UPTIME: ${goDuration(s.uptimeNs)}\n` +
        `NUM CONNECTED NODES: ${connected !== undefined ? String(connected) : 'N/A'}\n` +
        ` NUM UNAVAIL. NODES: ${unavailable !== undefined ? String(unavailable) : 'N/A'}\n` +
        `            VERSION: ${s.version}\n`
      );
    case 'table':
    case 'tab': {
      let out = '';
      const tw = new TabWriter((x) => (out += x));
      const fields = ['NUM FLOWS', 'MAX FLOWS', 'SEEN FLOWS', 'FLOWS PER SECOND', 'UPTIME'];
      const values = [groupThousands(s.numFlows), groupThousands(s.maxFlows), groupThousands(s.seenFlows), fps, goDuration(s.uptimeNs)];
      if (connected !== undefined) {
        fields.push('NUM CONNECTED NODES');
        values.push(String(connected));
      }
      if (unavailable !== undefined) {
        fields.push('NUM UNAVAIL. NODES');
        values.push(String(unavailable));
      }
      fields.push('VERSION');
      values.push(s.version);
      tw.write(fields.join('\t') + '\n' + values.join('\t') + '\n');
      tw.flush();
      return out;
    }
    case 'compact': {
      const ratio = s.maxFlows > 0n ? ` (${((Number(s.numFlows) / Number(s.maxFlows)) * 100).toFixed(2)}%)` : '';
      let out = `Current/Max Flows: ${groupThousands(s.numFlows)}/${groupThousands(s.maxFlows)}${ratio}\n`;
      out += `Flows/s: ${fps}\n`;
      if (connected !== undefined) out += `Connected Nodes: ${connected}/${connected + (unavailable ?? 0)}\n`;
      if (s.unavailableNodes.length > 0) {
        out += 'Unavailable Nodes: \n';
        for (const n of s.unavailableNodes) out += `  - ${n}\n`;
        const more = (unavailable ?? 0) - s.unavailableNodes.length;
        if (more > 0) out += `  - and ${more} more...\n`;
      }
      return out;
    }
  }
}
