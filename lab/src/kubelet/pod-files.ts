/** The files a runtime writes for a pod: /etc/resolv.conf and /etc/hosts. Pure functions of the spec. */

export const CLUSTER_DOMAIN = 'cluster.local';

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const r: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) r.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') r.searches = rest;
    else if (key === 'options') r.options.push(...rest);
  }
  return r;
}

export function formatResolvConf(r: ResolvConf): string {
  const lines: string[] = [];
  if (r.searches.length > 0) lines.push(`search ${r.searches.join(' ')}`);
  for (const ns of r.nameservers) lines.push(`nameserver ${ns}`);
  if (r.options.length > 0) lines.push(`options ${r.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface PodDnsInput {
  namespace: string;
  dnsPolicy?: string | undefined;
  hostNetwork?: boolean | undefined;
  dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: Array<{ name?: string; value?: string }> } | undefined;
}

function mergeOptions(base: string[], extra: Array<{ name?: string; value?: string }>): string[] {
  const byName = new Map<string, string>();
  for (const o of base) byName.set(o.split(':')[0]!, o);
  for (const o of extra) {
    if (!o.name) continue;
    byName.set(o.name, o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : o.name);
  }
  return [...byName.values()];
}

/**
 * The pod's resolv.conf as the kubelet builds it. `host` is the node's resolv.conf (kubelet --resolv-conf):
 * its nameservers are the cluster DNS in the lab. ClusterFirst (default; for hostNetwork pods only with
 * ClusterFirstWithHostNet): search <ns>.svc.<domain> svc.<domain> <domain> + host searches, options ndots:5.
 * Default (and ClusterFirst on hostNetwork): the host file. None: only dnsConfig. dnsConfig is merged last.
 */
export function podResolvConf(host: ResolvConf, pod: PodDnsInput, clusterDomain = CLUSTER_DOMAIN): ResolvConf {
  const policy = pod.dnsPolicy ?? 'ClusterFirst';
  let r: ResolvConf;
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.hostNetwork);
  if (policy === 'None') {
    r = { nameservers: [], searches: [], options: [] };
  } else if (cluster) {
    const searches = [`${pod.namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
    for (const s of host.searches) if (!searches.includes(s)) searches.push(s);
    r = { nameservers: [...host.nameservers], searches, options: mergeOptions(host.options, [{ name: 'ndots', value: '5' }]) };
  } else {
    r = { nameservers: [...host.nameservers], searches: [...host.searches], options: [...host.options] };
  }
  const dc = pod.dnsConfig;
  if (dc) {
    for (const ns of dc.nameservers ?? []) if (!r.nameservers.includes(ns)) r.nameservers.push(ns);
    for (const s of dc.searches ?? []) if (!r.searches.includes(s)) r.searches.push(s);
    r.options = mergeOptions(r.options, dc.options ?? []);
  }
  // glibc reads at most 3 nameservers and 32 search domains (the kubelet trims the same way).
  r.nameservers = r.nameservers.slice(0, 3);
  r.searches = r.searches.slice(0, 32);
  return r;
}

export interface PodHostsInput {
  podIPs: string[];
  hostname: string;
  subdomain?: string | undefined;
  namespace: string;
  hostAliases?: Array<{ ip?: string; hostnames?: string[] }> | undefined;
}

/** /etc/hosts as the kubelet writes it for a pod that is not hostNetwork. */
export function podHostsFile(p: PodHostsInput, clusterDomain = CLUSTER_DOMAIN): string {
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  for (const ip of p.podIPs) {
    if (p.subdomain) lines.push(`${ip}\t${p.hostname}.${p.subdomain}.${p.namespace}.svc.${clusterDomain}\t${p.hostname}`);
    else lines.push(`${ip}\t${p.hostname}`);
  }
  const aliases = p.hostAliases ?? [];
  if (aliases.length > 0) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) if (a.ip && a.hostnames?.length) lines.push(`${a.ip}\t${a.hostnames.join('\t')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** /etc/hosts for a hostNetwork pod: the host's file, plus the node's own name on its address. */
export function hostNetworkHostsFile(hostFile: string, nodeName: string, nodeIp: string): string {
  const base = hostFile.endsWith('\n') || hostFile === '' ? hostFile : `${hostFile}\n`;
  return `${base}# Added by the lab kubelet: this node.\n${nodeIp}\t${nodeName}\n`;
}
