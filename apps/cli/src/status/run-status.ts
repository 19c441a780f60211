// `cilium status [--wait]`: collect, print, and exit non-zero with the reasons when the install is unhealthy.
// --wait polls (every 2 s, as cilium-cli) until there are no errors (and no warnings unless
// --ignore-warnings) or --wait-duration passes.
import { collectStatus } from './collect-status.js';
import type { ClusterStatus } from './cluster-status.js';
import { formatStatus } from './format-status.js';
import type { StatusSource } from './status-source.js';

export interface RunStatusOptions {
  namespace: string;
  wait: boolean;
  waitDurationMs: number;
  ignoreWarnings: boolean;
  output: 'summary' | 'json';
  colour: boolean;
  /** Redraw the summary after each retry while waiting (a terminal). */
  interactive: boolean;
  helmReleaseName?: string;
  retryIntervalMs?: number;
}

export interface RunStatusResult {
  exitCode: number;
  status: ClusterStatus;
  stdout: string;
  stderr: string;
}

/** "5m0s" style, as Go prints durations of whole seconds. */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${m}m${sec}s` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
}

/** Go's time.ParseDuration subset: "5m", "90s", "1h30m", "1m30.5s", "500ms". */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  if (!/^(\d+(?:\.\d+)?(ms|h|m|s))+$/.test(s)) throw new Error(`invalid duration "${s}" (examples: 5m, 90s, 1h30m)`);
  let ms = 0;
  for (const m of s.matchAll(re)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return ms;
}

function problemsText(s: ClusterStatus, withWarnings: boolean): string {
  if (s.unreachable) return s.unreachable.message;
  const items = s.problems('errors').map((p) => `${p.component}: ${p.pod === p.component ? '' : `${p.pod}: `}${p.message}`);
  if (withWarnings) items.push(...s.problems('warnings').map((p) => `${p.component}: ${p.pod === p.component ? '' : `${p.pod}: `}${p.message} (warning)`));
  for (const c of s.collectionErrors) if (!items.some((i) => i.includes(c.replace(/^[^:]+: /, '')))) items.push(c);
  const shown = items.slice(0, 3).join('; ');
  return items.length > 3 ? `${shown}; and ${items.length - 3} more (see Errors: above)` : shown;
}

export async function runStatus(src: StatusSource, o: RunStatusOptions, write: (s: string) => void = () => {}): Promise<RunStatusResult> {
  const deadline = Date.now() + o.waitDurationMs;
  const interval = o.retryIntervalMs ?? 2000;
  const render = (s: ClusterStatus): string => (o.output === 'json' ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s, { colour: o.colour }));
  const collectOpts = o.helmReleaseName === undefined ? { namespace: o.namespace } : { namespace: o.namespace, helmReleaseName: o.helmReleaseName };
  let status = await collectStatus(src, collectOpts);
  let drawn = 0;
  let timedOut = false;
  if (o.wait) {
    while (!status.isReady(o.ignoreWarnings)) {
      if (Date.now() + interval > deadline) {
        timedOut = true;
        break;
      }
      if (o.interactive && o.output === 'summary') {
        const text = render(status);
        write('\x1b[A\x1b[2K'.repeat(Math.max(0, drawn - 1)) + text);
        drawn = text.split('\n').length;
      }
      await new Promise((r) => setTimeout(r, interval));
      status = await collectStatus(src, collectOpts);
    }
  }
  const stdout = '\x1b[A\x1b[2K'.repeat(Math.max(0, drawn - 1)) + render(status);
  let stderr = '';
  let exitCode = 0;
  if (status.unreachable && (!o.wait || timedOut)) {
    return { exitCode: 1, status, stdout: '\x1b[A\x1b[2K'.repeat(Math.max(0, drawn - 1)), stderr: `Error: ${status.unreachable.message}\nhint: ${status.unreachable.hint}\n` };
  }
  if (timedOut) {
    exitCode = 1;
    stderr = `Error: timeout while waiting for status to become successful (waited ${formatDuration(o.waitDurationMs)}): ${problemsText(status, !o.ignoreWarnings)}\n`;
  } else if (status.totalErrors() > 0 || status.collectionErrors.length > 0) {
    exitCode = 1;
    stderr = `Error: Cilium is not healthy: ${problemsText(status, false)}\nhint: see Errors: above${o.wait ? '' : '; `cilium status --wait` waits for a rollout to finish'}\n`;
  }
  return { exitCode, status, stdout, stderr };
}
