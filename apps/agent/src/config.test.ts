import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from './config.js';

describe('agent configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads kebab-case keys from YAML and lets flags win', () => {
    const f = join(dir, 'agent.yaml');
    writeFileSync(f, 'pod-cidr: 10.50.0.0/24\nsocket-path: /tmp/from-file.sock\nmonitor-aggregation: none\n');
    const c = loadAgentConfig({ socketPath: '/tmp/from-flag.sock', stateDir: undefined }, f);
    expect(c.podCidr).toBe('10.50.0.0/24');
    expect(c.socketPath).toBe('/tmp/from-flag.sock');
    expect(c.monitorAggregation).toBe('none');
    expect(c.hubbleSocketPath).toBe('/var/run/cilium/hubble.sock');
    expect(c.bpfRoot).toBe('/sys/fs/bpf');
  });

  it('explains a bad pod CIDR', () => {
    expect(() => loadAgentConfig({ podCidr: '10.50.0.1/24' })).toThrowError(/podCidr: invalid CIDR "10.50.0.1\/24": host bits set/);
    try {
      loadAgentConfig({}, undefined, { env: {} });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).hint).toMatch(/--pod-cidr/);
    }
    expect.assertions(3);
  });

  it('rejects unknown keys and unreadable files', () => {
    const f = join(dir, 'typo.yaml');
    writeFileSync(f, 'pod-cidr: 10.50.0.0/24\npod-cdir: 10.60.0.0/24\n');
    expect(() => loadAgentConfig({}, f)).toThrowError(/Unrecognized key/);
    expect(() => loadAgentConfig({}, join(dir, 'missing.yaml'))).toThrowError(/cannot read config file/);
  });
});
