import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatResult, mergeResults, parseResult, type CniResult } from './cni-result.js';

// libcni's golden results (shared/specs/cni-spec/golden/types-results, Apache-2.0), copied into testdata/.
function golden(name: string): Record<string, unknown> {
  const text = readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { expected: Record<string, unknown> }).expected;
}

describe('CNI result formatting against libcni golden JSON', () => {
  const v110 = golden('100-correctly-encodes-a-1-1-0-result.json');
  const parsed = parseResult(v110);

  it('prints a 1.1.0 result exactly as libcni does', () => {
    expect(formatResult(parsed, '1.1.0')).toEqual(v110);
  });

  it('down-converts to 0.4.0 like libcni (ips[].version, no mtu/pciID/socketPath)', () => {
    expect(formatResult(parsed, '0.4.0')).toEqual(golden('100-correctly-encodes-a-0-4-0-result.json'));
  });

  it('prints 0.3.x results like libcni', () => {
    const v031 = golden('040-correctly-encodes-a-0-3-x-result.json');
    expect(formatResult(parseResult(v031), '0.3.1')).toEqual(v031);
  });

  it('keeps interface index 0 and omits a missing index (IPConfig golden)', () => {
    const idx0 = golden('100-correctly-marshals-and-unmarshals-interface-index-0.json');
    const missing = golden('100-correctly-marshals-a-missing-interface-index.json');
    for (const g of [idx0, missing]) {
      const r = parseResult({ ips: [g] });
      expect((formatResult(r, '1.1.0')['ips'] as unknown[])[0]).toEqual(g);
    }
  });
});

describe('mergeResults', () => {
  it('appends our interfaces and shifts our ips[].interface past prevResult interfaces', () => {
    const prev: CniResult = { interfaces: [{ name: 'x0' }], ips: [{ address: '1.2.3.4/24', interface: 0 }], routes: [], dns: { nameservers: ['1.1.1.1'] } };
    const ours: CniResult = {
      interfaces: [{ name: 'lxcabc' }, { name: 'eth0', sandbox: '/run/netns/p' }],
      ips: [{ address: '10.0.0.5/32', gateway: '10.0.0.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
      dns: {},
    };
    const m = mergeResults(prev, ours);
    expect(m.interfaces.map((i) => i.name)).toEqual(['x0', 'lxcabc', 'eth0']);
    expect(m.ips[1]).toEqual({ address: '10.0.0.5/32', gateway: '10.0.0.1', interface: 2 });
    expect(m.dns).toEqual({ nameservers: ['1.1.1.1'] });
  });
});
