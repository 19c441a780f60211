/**
 * Pod volumes on a lab node: emptyDir, hostPath (mapped per node, see launch.ts mapHostPath), configMap,
 * secret, downwardAPI and projected (serviceAccountToken via the TokenRequest API, configMap, secret,
 * downwardAPI) are materialised as directories under <pod dir>/volumes/<name> and bind-mounted into the
 * container's mount namespace.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fieldValue, type PodFieldSource } from './container-env.js';
import { mapHostPath, type NodePaths } from './launch.js';

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  downwardAPI?: { items?: Array<{ path: string; fieldRef?: { fieldPath: string }; mode?: number }>; defaultMode?: number };
  projected?: {
    defaultMode?: number;
    sources?: Array<{
      serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string };
      configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
      secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
      downwardAPI?: { items?: Array<{ path: string; fieldRef?: { fieldPath: string }; mode?: number }> };
    }>;
  };
  [k: string]: unknown;
}

/** Files of a configMap/secret (decoded) after `items` selection: relative path -> content. */
export function selectKeys(data: Record<string, Buffer>, items: KeyToPath[] | undefined, what: string): Map<string, { content: Buffer; mode?: number }> {
  const out = new Map<string, { content: Buffer; mode?: number }>();
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) out.set(k, { content: v });
    return out;
  }
  for (const it of items) {
    const v = data[it.key];
    if (v === undefined) throw new Error(`${what}: key "${it.key}" not found`);
    out.set(it.path, it.mode === undefined ? { content: v } : { content: v, mode: it.mode });
  }
  return out;
}

export function writeFiles(dir: string, files: Map<string, { content: Buffer; mode?: number }>, defaultMode: number | undefined): void {
  mkdirSync(dir, { recursive: true });
  for (const [rel, f] of files) {
    const p = join(dir, rel);
    if (!p.startsWith(`${dir}/`)) throw new Error(`volume path ${rel} escapes the volume`);
    mkdirSync(dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${process.pid}`;
    writeFileSync(tmp, f.content);
    chmodSync(tmp, f.mode ?? defaultMode ?? 0o644);
    renameSync(tmp, p);
  }
}

export interface VolumeSources {
  configMap(name: string): Promise<Record<string, Buffer> | undefined>;
  secret(name: string): Promise<Record<string, Buffer> | undefined>;
  /** A service account token for the pod (TokenRequest, bound to the pod). */
  token(audience: string | undefined, expirationSeconds: number): Promise<{ token: string; expiresAt: number }>;
}

export interface PreparedVolume {
  /** The directory (or file) to bind-mount; undefined when the host path is visible as it is. */
  source: string | undefined;
  /** The mount point inside the container for `source` when source is undefined (host path). */
  hostPath?: string;
  /** Seconds-since-epoch when projected tokens must be refreshed (call prepare again). */
  refreshAt?: number;
}

/** Creates or refreshes one volume's content; returns what to mount. */
export async function prepareVolume(v: Volume, podDir: string, node: NodePaths, pod: PodFieldSource, src: VolumeSources): Promise<PreparedVolume> {
  const dir = join(podDir, 'volumes', v.name);
  if (v.hostPath) {
    const mapped = mapHostPath(v.hostPath.path, node);
    const type = v.hostPath.type ?? '';
    if (mapped === undefined) return { source: undefined, hostPath: v.hostPath.path };
    if (type === 'FileOrCreate' || type === 'File') {
      if (!existsSync(mapped)) {
        if (type === 'File') throw new Error(`hostPath type check failed: ${v.hostPath.path} is not a file`);
        mkdirSync(dirname(mapped), { recursive: true });
        writeFileSync(mapped, '');
      }
    } else if (type === 'Socket' || type === 'CharDevice' || type === 'BlockDevice') {
      if (!existsSync(mapped)) throw new Error(`hostPath type check failed: ${v.hostPath.path} does not exist`);
    } else {
      if (type === 'Directory' && !existsSync(mapped)) throw new Error(`hostPath type check failed: ${v.hostPath.path} is not a directory`);
      mkdirSync(mapped, { recursive: true });
    }
    return { source: mapped };
  }
  if (v.emptyDir) {
    mkdirSync(dir, { recursive: true });
    return { source: dir };
  }
  if (v.configMap) {
    const data = await src.configMap(v.configMap.name);
    if (!data && !v.configMap.optional) throw new Error(`configmap "${v.configMap.name}" not found`);
    writeFiles(dir, selectKeys(data ?? {}, v.configMap.items, `configmap ${v.configMap.name}`), v.configMap.defaultMode);
    return { source: dir };
  }
  if (v.secret) {
    const data = await src.secret(v.secret.secretName);
    if (!data && !v.secret.optional) throw new Error(`secret "${v.secret.secretName}" not found`);
    writeFiles(dir, selectKeys(data ?? {}, v.secret.items, `secret ${v.secret.secretName}`), v.secret.defaultMode ?? 0o644);
    return { source: dir };
  }
  if (v.downwardAPI) {
    const files = new Map<string, { content: Buffer; mode?: number }>();
    for (const it of v.downwardAPI.items ?? []) if (it.fieldRef) files.set(it.path, { content: Buffer.from(fieldValue(it.fieldRef.fieldPath, pod)) });
    writeFiles(dir, files, v.downwardAPI.defaultMode);
    return { source: dir };
  }
  if (v.projected) {
    const files = new Map<string, { content: Buffer; mode?: number }>();
    let refreshAt: number | undefined;
    for (const s of v.projected.sources ?? []) {
      if (s.serviceAccountToken) {
        const exp = Math.max(600, s.serviceAccountToken.expirationSeconds ?? 3607);
        const t = await src.token(s.serviceAccountToken.audience, exp);
        files.set(s.serviceAccountToken.path, { content: Buffer.from(t.token), mode: 0o600 });
        // The kubelet refreshes at 80% of the token's life.
        const now = Date.now() / 1000;
        const at = now + (t.expiresAt - now) * 0.8;
        refreshAt = refreshAt === undefined ? at : Math.min(refreshAt, at);
      } else if (s.configMap) {
        const data = await src.configMap(s.configMap.name);
        if (!data && !s.configMap.optional) throw new Error(`configmap "${s.configMap.name}" not found`);
        for (const [k, f] of selectKeys(data ?? {}, s.configMap.items, `configmap ${s.configMap.name}`)) files.set(k, f);
      } else if (s.secret) {
        const data = await src.secret(s.secret.name);
        if (!data && !s.secret.optional) throw new Error(`secret "${s.secret.name}" not found`);
        for (const [k, f] of selectKeys(data ?? {}, s.secret.items, `secret ${s.secret.name}`)) files.set(k, f);
      } else if (s.downwardAPI) {
        for (const it of s.downwardAPI.items ?? []) if (it.fieldRef) files.set(it.path, { content: Buffer.from(fieldValue(it.fieldRef.fieldPath, pod)) });
      }
    }
    writeFiles(dir, files, v.projected.defaultMode);
    return refreshAt === undefined ? { source: dir } : { source: dir, refreshAt };
  }
  // Unsupported volume types become an empty directory, so pods that only declare them still start.
  mkdirSync(dir, { recursive: true });
  return { source: dir };
}
