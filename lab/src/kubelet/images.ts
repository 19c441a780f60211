/**
 * The lab's image table: which command a container image stands for. There is no registry and no image
 * filesystem here: a container runs as a process on the host's root filesystem, and its image decides
 *  - the directory put first on the container's PATH (the names the real image has, e.g. `cilium-agent`,
 *    linked to our built binaries in <repo>/bin), and
 *  - the entrypoint used when the pod gives no `command`.
 * Any tag or digest of a listed repository matches. An image not in the table is an ErrImagePull, never a
 * silent success. lab/README.md ("Images") documents the same table.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where a name on the image's PATH points. `repo:` paths are relative to the repository root. */
export interface ImageTool {
  name: string;
  /** Absolute path, or `repo:<relative path>`. */
  target: string;
  /** Run the target with node (for .mjs helpers that are not executable). */
  node?: boolean;
}

export interface ImageEntry {
  /** Repositories (registry/path, no tag) this entry matches. */
  repositories: string[];
  /** What this image is, for the docs table. */
  description: string;
  /** The names the image provides (first on PATH). */
  tools: ImageTool[];
  /** The image's ENTRYPOINT (used when the container has no `command`). */
  entrypoint: string[];
  /** The image's CMD (used when the container has neither `command` nor `args`). */
  cmd: string[];
  /** Extra env the image sets (the container's env overrides it). */
  env?: Record<string, string>;
}

export const IMAGE_TABLE: ImageEntry[] = [
  {
    repositories: ['quay.io/cilium/cilium', 'quay.io/cilium/cilium-ci'],
    description: 'cilium agent image: cilium-agent, cilium-dbg, cilium, cilium-cni, cilium-install-cni, hubble from <repo>/bin',
    tools: [
      { name: 'cilium-agent', target: 'repo:bin/cilium-agent' },
      { name: 'cilium-dbg', target: 'repo:bin/cilium-dbg' },
      { name: 'cilium', target: 'repo:bin/cilium' },
      { name: 'cilium-cni', target: 'repo:bin/cilium-cni' },
      { name: 'cilium-cni-node', target: 'repo:bin/cilium-cni-node' },
      { name: 'cilium-install-cni', target: 'repo:bin/cilium-install-cni' },
      { name: 'hubble', target: 'repo:bin/hubble' },
    ],
    entrypoint: ['cilium-agent'],
    cmd: [],
  },
  {
    repositories: [
      'quay.io/cilium/operator-generic',
      'quay.io/cilium/operator',
      'quay.io/cilium/operator-generic-ci',
      'quay.io/cilium/operator-ci',
    ],
    description: 'cilium operator image: cilium-operator-generic / cilium-operator -> <repo>/bin/cilium-operator',
    tools: [
      { name: 'cilium-operator-generic', target: 'repo:bin/cilium-operator' },
      { name: 'cilium-operator', target: 'repo:bin/cilium-operator' },
    ],
    entrypoint: ['cilium-operator-generic'],
    cmd: [],
  },
  {
    repositories: ['quay.io/cilium/hubble-relay', 'quay.io/cilium/hubble-relay-ci'],
    description: 'hubble-relay -> <repo>/bin/hubble-relay',
    tools: [{ name: 'hubble-relay', target: 'repo:bin/hubble-relay' }],
    entrypoint: ['hubble-relay'],
    cmd: ['serve'],
  },
  {
    repositories: ['quay.io/cilium/hubble-ui'],
    description: 'hubble-ui frontend (the page on 8081, /api proxied to the backend) -> <repo>/bin/hubble-ui',
    tools: [{ name: 'hubble-ui', target: 'repo:bin/hubble-ui' }],
    entrypoint: ['hubble-ui'],
    cmd: [],
  },
  {
    // The same binary as the frontend; the chart runs both images in one pod without a command, so the
    // backend image's entrypoint names the subcommand.
    repositories: ['quay.io/cilium/hubble-ui-backend'],
    description: 'hubble-ui backend (JSON /api/flows, /api/status on $EVENTS_SERVER_PORT, read from Hubble Relay at $FLOWS_API_ADDR) -> <repo>/bin/hubble-ui backend',
    tools: [{ name: 'hubble-ui', target: 'repo:bin/hubble-ui' }],
    entrypoint: ['hubble-ui', 'backend'],
    cmd: [],
  },
  {
    repositories: ['quay.io/cilium/json-mock'],
    description: 'HTTP server answering every GET with a JSON document on $PORT (default 8080): lab/src/kubelet/json-mock.mjs',
    tools: [{ name: 'json-mock', target: 'repo:lab/src/kubelet/json-mock.mjs', node: true }],
    entrypoint: ['json-mock'],
    cmd: [],
    env: { PORT: '8080' },
  },
  {
    repositories: ['registry.k8s.io/e2e-test-images/agnhost', 'k8s.gcr.io/e2e-test-images/agnhost'],
    description: "Kubernetes' e2e test image, `netexec` only (HTTP /hostname, /clientip, /echo on --http-port 8080; UDP on --udp-port 8081): lab/src/kubelet/agnhost.mjs",
    tools: [{ name: 'agnhost', target: 'repo:lab/src/kubelet/agnhost.mjs', node: true }],
    entrypoint: ['agnhost'],
    cmd: [],
  },
  {
    repositories: ['quay.io/cilium/alpine-curl', 'docker.io/byrnedo/alpine-curl', 'byrnedo/alpine-curl'],
    description: "the host's curl and sh; ash -> sh; nslookup (busybox applet when the host has none)",
    tools: [
      { name: 'ash', target: '/bin/sh' },
      { name: 'sh', target: '/bin/sh' },
      { name: 'curl', target: '/usr/bin/curl' },
      { name: 'nslookup', target: 'nslookup' },
    ],
    entrypoint: ['curl'],
    cmd: [],
  },
];

/** Splits an image reference into repository (with registry, docker.io/library defaults) and tag/digest. */
export function parseImageRef(image: string): { repository: string; tag: string } {
  let rest = image.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const first = rest.split('/')[0] ?? '';
  const hasRegistry = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) rest = rest.includes('/') ? `docker.io/${rest}` : `docker.io/library/${rest}`;
  return { repository: rest, tag: digest !== '' ? (tag !== '' ? `${tag}@${digest}` : `@${digest}`) : tag || 'latest' };
}

export type ImageResolution =
  | { ok: true; entry: ImageEntry; repository: string; tag: string }
  | { ok: false; reason: 'ErrImagePull' | 'InvalidImageName'; message: string };

/** Looks an image up in the table. */
export function resolveImage(image: string | undefined): ImageResolution {
  if (image === undefined || image.trim() === '') {
    return { ok: false, reason: 'InvalidImageName', message: 'the container has no image' };
  }
  const { repository, tag } = parseImageRef(image);
  for (const entry of IMAGE_TABLE) {
    if (entry.repositories.includes(repository)) return { ok: true, entry, repository, tag };
  }
  const known = IMAGE_TABLE.flatMap((e) => e.repositories).join(', ');
  return {
    ok: false,
    reason: 'ErrImagePull',
    message: `Failed to pull image "${image}": the lab has no registry and ${repository} is not in the lab image table (lab/src/kubelet/images.ts; known: ${known})`,
  };
}

/** The container's argv as a runtime computes it from ENTRYPOINT/CMD and the pod's command/args. */
export function containerArgv(entry: ImageEntry, command: string[] | undefined, args: string[] | undefined): string[] {
  const hasCmd = command !== undefined && command.length > 0;
  const hasArgs = args !== undefined && args.length > 0;
  if (hasCmd) return [...command, ...(hasArgs ? args : [])];
  if (hasArgs) return [...entry.entrypoint, ...args];
  return [...entry.entrypoint, ...entry.cmd];
}

/** Resolves a tool's target to an absolute path (`repo:` against repoRoot; a bare name searched on PATH). */
export function toolTarget(tool: ImageTool, repoRoot: string, searchPath: string[], busybox: string | undefined): string | undefined {
  if (tool.target.startsWith('repo:')) return join(repoRoot, tool.target.slice(5));
  if (tool.target.startsWith('/')) return tool.target;
  for (const d of searchPath) {
    const p = join(d, tool.target);
    if (existsSync(p)) return p;
  }
  // A busybox applet: busybox dispatches on argv[0], so a link named after the applet runs it.
  return busybox;
}
