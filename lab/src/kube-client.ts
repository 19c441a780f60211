// A very small Kubernetes REST client for the lab's own needs (bootstrap objects, pod lookups): https with
// the client cert of a kubeconfig, JSON in and out. Everything heavier uses kubectl or packages/k8s.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parse } from 'yaml';
import { LabError } from './lab-error.js';

export interface KubeResponse {
  status: number;
  body: unknown;
  text: string;
}

interface KubeconfigDoc {
  clusters?: Array<{ cluster?: { server?: string; 'certificate-authority-data'?: string } }>;
  users?: Array<{ user?: { 'client-certificate-data'?: string; 'client-key-data'?: string } }>;
}

export class KubeClient {
  private readonly url: URL;
  private readonly ca: Buffer;
  private readonly cert: Buffer;
  private readonly key: Buffer;

  constructor(o: { server: string; ca: Buffer; cert: Buffer; key: Buffer }) {
    this.url = new URL(o.server);
    this.ca = o.ca;
    this.cert = o.cert;
    this.key = o.key;
  }

  static fromKubeconfig(path: string): KubeClient {
    const doc = parse(readFileSync(path, 'utf8')) as KubeconfigDoc;
    const c = doc.clusters?.[0]?.cluster;
    const u = doc.users?.[0]?.user;
    const server = c?.server;
    const ca = c?.['certificate-authority-data'];
    const cert = u?.['client-certificate-data'];
    const key = u?.['client-key-data'];
    if (server === undefined || ca === undefined || cert === undefined || key === undefined) {
      throw new LabError('LAB_KUBECONFIG', `${path}: expected a cluster with server + CA data and a user with client cert data`, 'use a kubeconfig written by cilium-lab up');
    }
    return new KubeClient({ server, ca: Buffer.from(ca, 'base64'), cert: Buffer.from(cert, 'base64'), key: Buffer.from(key, 'base64') });
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.url.hostname,
          port: this.url.port === '' ? 443 : Number(this.url.port),
          path,
          method,
          ca: this.ca,
          cert: this.cert,
          key: this.key,
          headers: {
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (e.g. /readyz prints "ok")
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** GET that returns undefined on 404 and throws on other errors. */
  async get(path: string): Promise<unknown> {
    const r = await this.request('GET', path);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new LabError('LAB_API', `GET ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`, 'is the lab up? `cilium-lab status`');
    return r.body;
  }

  /** POST a new object; an existing one (409) is fine. */
  async create(path: string, obj: unknown): Promise<void> {
    const r = await this.request('POST', path, obj);
    if (r.status === 409 || (r.status >= 200 && r.status < 300)) return;
    throw new LabError('LAB_API', `POST ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`, 'see the apiserver log under /run/cilium-lab/<name>/logs');
  }
}
