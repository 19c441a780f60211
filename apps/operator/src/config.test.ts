import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadOperatorConfig, parseDuration } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'cilium-operator-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('operator config', () => {
  it('defaults', () => {
    const c = loadOperatorConfig({});
    expect(c.clusterPoolIPv4CIDRs).toEqual(['10.0.0.0/8']);
    expect(c.clusterPoolIPv4MaskSize).toBe(24);
    expect(c.identityGcIntervalMs).toBe(15 * 60_000);
    expect(c.leaderElectionNamespace).toBe('kube-system');
    expect(c.healthPort).toBe(9234);
    expect(c.enableLbIpam).toBe(true);
    expect(c.lbIpamDefault).toBe(true);
  });

  it('LB-IPAM: enable-lb-ipam and default-lb-service-ipam from the config dir, the flag wins; bad values fail', () => {
    const d = mkdtempSync(join(dir, 'lb-'));
    writeFileSync(join(d, 'enable-lb-ipam'), 'false');
    writeFileSync(join(d, 'default-lb-service-ipam'), 'none');
    expect(loadOperatorConfig({ configDir: d })).toMatchObject({ enableLbIpam: false, lbIpamDefault: false });
    expect(loadOperatorConfig({ configDir: d, enableLbIpam: true, defaultLbServiceIpam: 'lbipam' })).toMatchObject({ enableLbIpam: true, lbIpamDefault: true });
    expect(loadOperatorConfig({ enableLbIpam: 'false' }).enableLbIpam).toBe(false);
    expect(() => loadOperatorConfig({ enableLbIpam: 'maybe' })).toThrow(ConfigError);
    expect(() => loadOperatorConfig({ defaultLbServiceIpam: 'metallb' })).toThrow(/default-lb-service-ipam/);
  });

  it('reads a ConfigMap volume (..data symlinks as the kubelet makes them), flags win', () => {
    const data = join(dir, '..2026_11_25');
    mkdirSync(data);
    writeFileSync(join(data, 'cluster-pool-ipv4-cidr'), '10.10.0.0/16 10.20.0.0/16');
    writeFileSync(join(data, 'cluster-pool-ipv4-mask-size'), '26');
    symlinkSync('..2026_11_25', join(dir, '..data'));
    symlinkSync('..data/cluster-pool-ipv4-cidr', join(dir, 'cluster-pool-ipv4-cidr'));
    symlinkSync('..data/cluster-pool-ipv4-mask-size', join(dir, 'cluster-pool-ipv4-mask-size'));
    const c = loadOperatorConfig({ configDir: dir });
    expect(c.clusterPoolIPv4CIDRs).toEqual(['10.10.0.0/16', '10.20.0.0/16']);
    expect(c.clusterPoolIPv4MaskSize).toBe(26);
    const f = loadOperatorConfig({ configDir: dir, clusterPoolIpv4Cidr: '10.0.0.0/8', clusterPoolIpv4MaskSize: '24' });
    expect(f.clusterPoolIPv4CIDRs).toEqual(['10.0.0.0/8']);
    expect(f.clusterPoolIPv4MaskSize).toBe(24);
    expect(loadOperatorConfig({ clusterPoolIpv4Cidr: '10.1.0.0/16,10.2.0.0/16' }).clusterPoolIPv4CIDRs).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
  });

  it('the chart\'s keys: operator-api-serve-addr, debug (also --debug=$(CILIUM_DEBUG) left empty)', () => {
    const d = join(dir, 'chart');
    mkdirSync(d);
    writeFileSync(join(d, 'operator-api-serve-addr'), '127.0.0.1:9555');
    writeFileSync(join(d, 'debug'), 'true');
    writeFileSync(join(d, 'identity-gc-interval'), '15m0s');
    const c = loadOperatorConfig({ configDir: d, debug: '' });
    expect([c.healthAddress, c.healthPort, c.logLevel, c.identityGcIntervalMs]).toEqual(['127.0.0.1', 9555, 'debug', 900_000]);
    expect(loadOperatorConfig({ configDir: d, debug: 'false' }).logLevel).toBe('info');
    expect(loadOperatorConfig({ configDir: d, healthPort: '9234' }).healthPort).toBe(9234);
  });

  it('durations and errors', () => {
    expect(parseDuration('15m0s')).toBe(900_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2')).toBe(2000);
    expect(() => parseDuration('5 minutes')).toThrow(ConfigError);
    expect(() => loadOperatorConfig({ clusterPoolIpv4MaskSize: '40' })).toThrow(/mask-size/);
    expect(() => loadOperatorConfig({ configDir: join(dir, 'nope') })).toThrow(/does not exist/);
  });
});
