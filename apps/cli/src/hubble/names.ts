// Human names Hubble's printer uses (from Cilium's pkg/monitor/api and pkg/identity), as data.

export const MESSAGE_TYPE_DROP = 1;
export const MESSAGE_TYPE_DEBUG = 2;
export const MESSAGE_TYPE_CAPTURE = 3;
export const MESSAGE_TYPE_TRACE = 4;
export const MESSAGE_TYPE_POLICY_VERDICT = 5;
export const MESSAGE_TYPE_TRACE_SOCK = 7;
export const MESSAGE_TYPE_ACCESS_LOG = 129;
export const MESSAGE_TYPE_AGENT = 130;

/** `--type` names (hubble observe) -> Cilium monitor message types. */
export const MESSAGE_TYPE_NAMES: Record<string, number> = {
  drop: MESSAGE_TYPE_DROP,
  debug: MESSAGE_TYPE_DEBUG,
  capture: MESSAGE_TYPE_CAPTURE,
  trace: MESSAGE_TYPE_TRACE,
  'policy-verdict': MESSAGE_TYPE_POLICY_VERDICT,
  'trace-sock': MESSAGE_TYPE_TRACE_SOCK,
  l7: MESSAGE_TYPE_ACCESS_LOG,
  agent: MESSAGE_TYPE_AGENT,
};

/** Cilium's raw TRACE_* observation points (the trace event's sub_type). */
export const TRACE_POINT_NAMES: Record<number, string> = {
  0: 'to-endpoint',
  1: 'to-proxy',
  2: 'to-host',
  3: 'to-stack',
  4: 'to-overlay',
  5: 'from-endpoint',
  6: 'from-proxy',
  7: 'from-host',
  8: 'from-stack',
  9: 'from-overlay',
  10: 'from-network',
  11: 'to-network',
  12: 'from-crypto',
  13: 'to-crypto',
};

export function traceObservationPointName(sub: number): string {
  return TRACE_POINT_NAMES[sub] ?? String(sub);
}

const DROP_REASONS: Record<number, string> = {
  0: 'Success',
  2: 'Invalid packet',
  3: 'Interface',
  4: 'Interface Decrypted',
  5: 'LB, sock cgroup: No backend slot entry found',
  6: 'LB, sock cgroup: No backend entry found',
  7: 'LB, sock cgroup: Reverse entry update failed',
  8: 'LB, sock cgroup: Reverse entry stale',
  9: 'Fragmented packet',
  10: 'Fragmented packet entry update failed',
  130: 'Invalid source mac',
  131: 'Invalid destination mac',
  132: 'Invalid source ip',
  133: 'Policy denied',
  134: 'Invalid packet',
  135: 'CT: Truncated or invalid header',
  136: 'CT: Missing TCP ACK flag',
  137: 'CT: Unknown L4 protocol',
  138: "CT: Can't create entry from packet",
  139: 'Unsupported L3 protocol',
  140: 'Missed tail call',
  141: 'Error writing to packet',
  142: 'Unknown L4 protocol',
  143: 'Unknown ICMPv4 code',
  144: 'Unknown ICMPv4 type',
  145: 'Unknown ICMPv6 code',
  146: 'Unknown ICMPv6 type',
  147: 'Error retrieving tunnel key',
  148: 'Error retrieving tunnel options',
  149: 'Invalid Geneve option',
  150: 'Unknown L3 target address',
  151: 'Stale or unroutable IP',
  152: 'No matching local container found',
  153: 'Error while correcting L3 checksum',
  154: 'Error while correcting L4 checksum',
  155: 'CT: Map insertion failed',
  156: 'Invalid IPv6 extension header',
  157: 'IP fragmentation not supported',
  158: 'Service backend not found',
  160: 'No tunnel/encapsulation endpoint (datapath BUG!)',
  161: 'Failed to insert into proxymap',
  162: 'Reached EDT rate-limiting drop horizon',
  163: 'Unknown connection tracking state',
  164: 'Local host is unreachable',
  165: 'No configuration available to perform policy decision',
  166: 'Unsupported L2 protocol',
  167: 'No mapping for NAT masquerade',
  168: 'Unsupported protocol for NAT masquerade',
  169: 'FIB lookup failed',
  170: 'Encapsulation traffic is prohibited',
  171: 'Invalid identity',
  172: 'Unknown sender',
  173: 'NAT not needed',
  174: 'Is a ClusterIP',
  175: 'First logical datagram fragment not found',
  176: 'Forbidden ICMPv6 message',
  177: 'Denied by LB src range check',
  178: 'Socket lookup failed',
  179: 'Socket assign failed',
  180: 'Proxy redirection not supported for protocol',
  181: 'Policy denied by denylist',
};

/** Cilium's DropReason(uint8) text. */
export function dropReasonText(reason: number): string {
  return DROP_REASONS[reason & 0xff] ?? String(reason & 0xff);
}

const RESERVED_IDENTITIES: Record<number, string> = {
  0: 'unknown',
  1: 'host',
  2: 'world',
  3: 'unmanaged',
  4: 'health',
  5: 'init',
  6: 'remote-node',
  7: 'kube-apiserver',
  8: 'ingress',
  9: 'world-ipv4',
  10: 'world-ipv6',
};

/** `(health)` for reserved identities, `(ID:12345)` otherwise, as `hubble observe -o compact` prints them. */
export function formatIdentity(id: number): string {
  const name = RESERVED_IDENTITIES[id];
  return name !== undefined ? `(${name})` : `(ID:${id})`;
}

export function policyMatchTypeText(m: number): string {
  switch (m) {
    case 0:
      return 'none';
    case 1:
      return 'L3-Only';
    case 2:
      return 'L3-L4';
    case 3:
      return 'L4-Only';
    case 4:
      return 'all';
    case 5:
      return 'L3-Proto';
    case 6:
      return 'Proto-Only';
    default:
      return 'unknown';
  }
}
