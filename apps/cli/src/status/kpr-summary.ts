// The `KubeProxyReplacement:` line of `cilium status`: what the install's cilium-config asks every agent for
// (the agents' own view, with what the kernel allowed, is `cilium-dbg status` on each node).
// Same mode words as Cilium (`True`, `False`, `Probe`, `Partial`, `Strict`, `Disabled`) and the enabled
// features in brackets.

const MODE_WORDS: Record<string, string> = { true: 'True', false: 'False', strict: 'Strict', probe: 'Probe', partial: 'Partial', disabled: 'Disabled' };

/** "True   [NodePort (SNAT, 30000-32767, Random), HostPort, ExternalIPs, SocketLB, SessionAffinity]" or "False". */
export function kprSummary(config: Record<string, string> | undefined): string {
  if (!config) return '';
  const mode = (config['kube-proxy-replacement'] ?? 'false').toLowerCase();
  const word = MODE_WORDS[mode] ?? mode;
  if (mode === 'false' || mode === 'disabled') return word;
  // true/strict/probe: every sub-feature unless turned off; partial: only those turned on.
  const on = (key: string): boolean => {
    const v = config[key];
    return mode === 'partial' ? v === 'true' : v !== 'false';
  };
  const features: string[] = [];
  if (on('enable-node-port')) {
    // the API's NodePort mode words (SNAT, DSR, Hybrid), as cilium-dbg status prints them
    const m = (config['bpf-lb-mode'] ?? 'snat').toLowerCase();
    const lbMode = m === 'hybrid' ? 'Hybrid' : m.toUpperCase();
    const algo = (config['bpf-lb-algorithm'] ?? 'random') === 'maglev' ? 'Maglev' : 'Random';
    features.push(`NodePort (${lbMode}, ${config['node-port-range']?.replace(',', '-') ?? '30000-32767'}, ${algo})`);
  }
  if (on('enable-host-port')) features.push('HostPort');
  if (on('enable-external-ips')) features.push('ExternalIPs');
  if (on(config['bpf-lb-sock'] !== undefined ? 'bpf-lb-sock' : 'enable-host-reachable-services')) features.push('SocketLB');
  if (on('enable-session-affinity')) features.push('SessionAffinity');
  return features.length > 0 ? `${word}   [${features.join(', ')}]` : word;
}
