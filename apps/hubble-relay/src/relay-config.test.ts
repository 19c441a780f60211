import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_RELAY_CONFIG, loadRelayConfig, parseGoDuration } from './relay-config.js';
import { parseGrpcAddress } from './grpc-address.js';
import { RelayError } from './relay-error.js';

const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('relay config', () => {
  it('Go durations', () => {
    expect(parseGoDuration('5s', 'k')).toBe(5000);
    expect(parseGoDuration('1m30s', 'k')).toBe(90_000);
    expect(parseGoDuration('250ms', 'k')).toBe(250);
    expect(parseGoDuration('2', 'k')).toBe(2000);
    expect(() => parseGoDuration('5 parsecs', 'dial-timeout')).toThrow(/dial-timeout/);
  });

  it('reads the file the chart renders; flags win', () => {
    const f = join(dir, 'config.yaml');
    writeFileSync(
      f,
      [
        'cluster-name: default',
        'peer-service: "hubble-peer.kube-system.svc.cluster.local.:80"',
        'listen-address: :4245',
        'dial-timeout: 3s',
        'retry-timeout: 10s',
        'sort-buffer-len-max: 50',
        'disable-client-tls: true',
        'disable-server-tls: true',
        '',
      ].join('\n'),
    );
    const c = loadRelayConfig({ config: f });
    expect(c).toMatchObject({ peerService: 'hubble-peer.kube-system.svc.cluster.local.:80', listenAddress: ':4245', dialTimeoutMs: 3000, retryTimeoutMs: 10_000, sortBufferLenMax: 50, tlsRequested: [] });
    const o = loadRelayConfig({ config: f, peerService: 'unix:///run/x.sock', listenAddress: '127.0.0.1:1', retryTimeout: '1s' });
    expect(o).toMatchObject({ peerService: 'unix:///run/x.sock', listenAddress: '127.0.0.1:1', retryTimeoutMs: 1000, dialTimeoutMs: 3000 });
  });

  it('defaults without a file; an explicit missing file is an error; TLS asked for is reported', () => {
    expect(loadRelayConfig({}, join(dir, 'none.yaml'))).toEqual(DEFAULT_RELAY_CONFIG);
    expect(() => loadRelayConfig({ config: join(dir, 'none.yaml') })).toThrow(RelayError);
    const f = join(dir, 'tls.yaml');
    writeFileSync(f, 'disable-server-tls: false\ntls-relay-server-cert-file: /x.crt\n');
    expect(loadRelayConfig({ config: f }).tlsRequested).toEqual(['disable-server-tls', 'tls-relay-server-cert-file']);
  });

  it('peer addresses', () => {
    expect(parseGrpcAddress('hubble-peer.kube-system.svc.cluster.local.:80', 'x')).toEqual({ kind: 'tcp', host: 'hubble-peer.kube-system.svc.cluster.local.', port: 80 });
    expect(parseGrpcAddress('[fd00::1]:4244', 'x')).toEqual({ kind: 'tcp', host: 'fd00::1', port: 4244 });
    expect(parseGrpcAddress('unix:///var/run/cilium/hubble.sock', 'x')).toEqual({ kind: 'unix', path: '/var/run/cilium/hubble.sock' });
    expect(() => parseGrpcAddress('hubble-peer', 'peer-service')).toThrow(/peer-service/);
  });
});
