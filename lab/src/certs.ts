// The lab's PKI, made with openssl: one CA per lab, the apiserver's serving cert, the service-account key
// pair and one client cert per identity (admin, controller-manager, scheduler, CoreDNS, each kubelet).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './lab-error.js';

export interface CertPaths {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertPaths;
  apiserver: CertPaths;
  /** The apiserver's client cert towards kubelets (CN=kube-apiserver-kubelet-client, O=system:masters). */
  apiserverKubeletClient: CertPaths;
  saKey: string;
  saPub: string;
}

function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (r.error) throw new LabError('LAB_OPENSSL', `openssl: ${r.error.message}`, 'install openssl (Debian package openssl)');
  if (r.status !== 0) throw new LabError('LAB_OPENSSL', `openssl ${args.slice(0, 2).join(' ')} failed: ${r.stderr.trim()}`, 'see the openssl message');
  return r.stdout;
}

function ecKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function sign(ca: CertPaths, out: CertPaths, subj: string, ext: string[]): void {
  ecKey(out.key);
  const csr = `${out.cert}.csr`;
  const extFile = `${out.cert}.ext`;
  writeFileSync(extFile, `[v3]\n${ext.join('\n')}\n`);
  try {
    openssl(['req', '-new', '-key', out.key, '-subj', subj, '-out', csr]);
    openssl([
      'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomSerial()}`,
      '-days', '3650', '-sha256', '-extfile', extFile, '-extensions', 'v3', '-out', out.cert,
    ]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(extFile, { force: true });
  }
}

function randomSerial(): string {
  return Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join('').replace(/^0/, '1');
}

export interface ServingSans {
  ips: string[];
  dns: string[];
}

/** Creates the CA, the apiserver serving cert, the apiserver->kubelet client cert and the SA key pair. */
export function createPki(dir: string, caName: string, sans: ServingSans): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  ecKey(ca.key);
  openssl([
    'req', '-x509', '-new', '-key', ca.key, '-subj', `/CN=${caName}`, '-days', '3650', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out', ca.cert,
  ]);
  const apiserver = { cert: join(dir, 'apiserver.crt'), key: join(dir, 'apiserver.key') };
  const san = [...sans.ips.map((ip) => `IP:${ip}`), ...sans.dns.map((d) => `DNS:${d}`)].join(',');
  sign(ca, apiserver, '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${san}`,
  ]);
  const apiserverKubeletClient = clientCert({ dir, ca } as Pki, 'apiserver-kubelet-client', 'kube-apiserver-kubelet-client', 'system:masters');
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  openssl(['genrsa', '-out', saKey, '2048']);
  openssl(['rsa', '-in', saKey, '-pubout', '-out', saPub]);
  return { dir, ca, apiserver, apiserverKubeletClient, saKey, saPub };
}

/** A client cert signed by the lab CA: CN = user name, O = group (optional). */
export function clientCert(pki: Pick<Pki, 'dir' | 'ca'>, file: string, cn: string, org?: string): CertPaths {
  const out = { cert: join(pki.dir, `${file}.crt`), key: join(pki.dir, `${file}.key`) };
  const subj = org === undefined ? `/CN=${cn}` : `/O=${org}/CN=${cn}`;
  sign(pki.ca, out, subj, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth']);
  return out;
}

/** The subject and SANs of a certificate as openssl prints them (for checks). */
export function describeCert(path: string): string {
  return openssl(['x509', '-in', path, '-noout', '-subject', '-ext', 'subjectAltName']);
}

export function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
