// The text of `cilium status`, laid out as cilium-cli's status.Format(): Go's text/tabwriter with minwidth 0,
// padding 4, the logo block with one status word per component, then the workloads, containers, pods, Helm
// chart version, images, errors and warnings. With colour on, the same escape codes as cilium-cli (they count
// towards the tabwriter's cell widths there too, which is why the logo rows carry the same number of codes).
import { TabWriter } from '../hubble/tab-writer.js';
import { AGENT, CLUSTERMESH, ENVOY, OPERATOR, RELAY, type ClusterStatus, type PodStateCount } from './cluster-status.js';

interface Palette {
  red: string;
  yellow: string;
  blue: string;
  green: string;
  magenta: string;
  cyan: string;
  reset: string;
}

const COLOURS: Palette = { red: '\x1b[31m', yellow: '\x1b[33m', blue: '\x1b[34m', green: '\x1b[32m', magenta: '\x1b[35m', cyan: '\x1b[36m', reset: '\x1b[0m' };
const PLAIN: Palette = { red: '', yellow: '', blue: '', green: '', magenta: '', cyan: '', reset: '' };

const PHASE_ORDER = ['Running', 'Pending', 'Succeeded', 'Failed', 'Unknown'];

/** "OK", "2 errors, 1 warnings", "disabled" for one component. */
export function statusSummary(s: ClusterStatus, name: string, c: Palette = PLAIN): string {
  const pods = s.errors.get(name);
  let text = '';
  if (pods) {
    let errors = 0;
    let warnings = 0;
    let disabled = false;
    for (const e of pods.values()) {
      errors += e.errors.length;
      warnings += e.warnings.length;
      if (e.disabled) disabled = true;
    }
    const parts: string[] = [];
    if (errors > 0) parts.push(`${c.red}${errors} errors${c.reset}`);
    if (warnings > 0) parts.push(`${c.yellow}${warnings} warnings${c.reset}`);
    if (disabled) parts.push(`${c.cyan}disabled${c.reset}`);
    text = parts.join(', ');
  }
  return text === '' ? `${c.green}OK${c.reset}` : text;
}

function envoySummary(summary: string): string {
  return summary.includes('disabled') ? summary.replace('disabled', 'disabled (using embedded mode)') : summary;
}

export function formatPodState(p: PodStateCount, c: Palette = PLAIN): string {
  const items: string[] = [];
  if (p.desired > 0) items.push(`Desired: ${p.desired}`);
  const colour = p.ready < p.desired ? c.yellow : c.green;
  if (p.ready > 0) items.push(`Ready: ${colour}${p.ready}/${p.desired}${c.reset}`);
  if (p.available > 0) items.push(`Available: ${colour}${p.available}/${p.desired}${c.reset}`);
  if (p.unavailable > 0) items.push(`Unavailable: ${c.red}${p.unavailable}/${p.desired}${c.reset}`);
  return items.join(', ');
}

function formatPhaseCount(m: Map<string, number>, c: Palette): string {
  const rank = (p: string): number => (PHASE_ORDER.includes(p) ? PHASE_ORDER.indexOf(p) : PHASE_ORDER.length);
  return [...m]
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([phase, n]) => {
      const colour = phase === 'Failed' || phase === 'Unknown' ? c.red : phase === 'Running' || phase === 'Pending' || phase === 'Succeeded' ? c.green : '';
      return `${phase}: ${colour}${n}${c.reset}`;
    })
    .join(', ');
}

export function formatStatus(s: ClusterStatus, opts: { colour?: boolean } = {}): string {
  const c = opts.colour ? COLOURS : PLAIN;
  let out = '';
  const w = new TabWriter((t) => (out += t), 0, 4);
  const line = (...cells: string[]): void => w.write(cells.join('\t') + '\n');
  w.write(`${c.yellow}    /¯¯\\\n`);
  line(`${c.cyan} /¯¯${c.yellow}\\__/${c.green}¯¯\\${c.reset}`, 'Cilium:', statusSummary(s, AGENT, c));
  line(`${c.cyan} \\__${c.red}/¯¯\\${c.green}__/${c.reset}`, 'Operator:', statusSummary(s, OPERATOR, c));
  line(`${c.green} /¯¯${c.red}\\__/${c.magenta}¯¯\\${c.reset}`, 'Envoy DaemonSet:', envoySummary(statusSummary(s, ENVOY, c)));
  line(`${c.green} \\__${c.blue}/¯¯\\${c.magenta}__/${c.reset}`, 'Hubble Relay:', statusSummary(s, RELAY, c));
  line(`${c.blue}${c.blue}${c.blue}    \\__/${c.reset}`, 'ClusterMesh:', statusSummary(s, CLUSTERMESH, c));
  w.write('\n');
  for (const [name, p] of s.podState) line(p.type, name, formatPodState(p, c));
  let header = 'Containers:';
  for (const [name, m] of s.phaseCount) {
    line(header, name, formatPhaseCount(m, c));
    header = '';
  }
  line('Cluster Pods:', `${s.podsCount.byCilium}/${s.podsCount.all} managed by Cilium`);
  line('Helm chart version:', s.helmChartVersion);
  header = 'Image versions';
  for (const [name, images] of s.imageCount) {
    for (const [image, n] of images) {
      line(header, name, `${image}: ${n}`);
      header = '';
    }
  }
  for (const [kind, title] of [['errors', 'Errors:'], ['warnings', 'Warnings:']] as const) {
    header = title;
    for (const p of s.problems(kind)) {
      line(header, p.component, p.pod, p.message);
      header = '';
    }
  }
  w.flush();
  // Not in cilium-cli's table (its column widths stay as they are): one line of its own after it.
  if (s.kubeProxyReplacement) out += `KubeProxyReplacement:    ${s.kubeProxyReplacement}\n`;
  return out;
}
