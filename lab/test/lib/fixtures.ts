// Helpers shared by the lab tests that run etcd + kube-apiserver themselves on loopback.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { findUpstreamBin, repoRoot } from '../../src/upstream.js';

/** The upstream bin dir: $CILIUM_LAB_UPSTREAM_BIN, else lab/build-upstream.sh (cached after its first run). */
export function upstreamBin(): string {
  return findUpstreamBin(undefined, repoRoot());
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Signs `<name>.crt/.key` in `dir` with the CA there (ca.crt/key), adding the openssl extension lines `ext`. */
function sign(dir: string, name: string, subj: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

/** A client cert `<name>.crt/.key` for user `cn` (and group `org`), signed by the CA in `dir`. */
export function signClientCert(dir: string, name: string, cn: string, org?: string): void {
  sign(dir, name, `${org ? `/O=${org}` : ''}/CN=${cn}`, 'extendedKeyUsage=clientAuth\n');
}

/**
 * In `dir`: a CA (ca.crt/key), a service-account key (sa.key), an apiserver serving cert for 127.0.0.1 and
 * localhost plus `extraSans` (apiserver.crt/key), and an admin client cert in system:masters (admin.crt/key).
 */
export function makeLoopbackCerts(dir: string, caName: string, extraSans = ''): void {
  openssl(dir, 'genrsa', '-out', 'sa.key', '2048');
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${caName}`, '-keyout', 'ca.key', '-out', 'ca.crt');
  sign(dir, 'apiserver', '/CN=kube-apiserver', `subjectAltName=IP:127.0.0.1,DNS:localhost${extraSans ? `,${extraSans}` : ''}\nextendedKeyUsage=serverAuth\n`);
  signClientCert(dir, 'admin', 'admin', 'system:masters');
}
