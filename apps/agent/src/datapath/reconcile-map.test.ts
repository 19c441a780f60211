import { describe, expect, it } from 'vitest';
import { endpointInfoCodec, endpointKeyCodec, type EndpointInfo, type EndpointKey } from '@cilium-ts/api';
import { reconcileMap, type ReconcilableMap } from './reconcile-map.js';

class FakeTable implements ReconcilableMap<EndpointKey, EndpointInfo> {
  rows = new Map<string, EndpointInfo>();
  *entries(): IterableIterator<[EndpointKey, EndpointInfo]> {
    for (const [ip, v] of [...this.rows]) yield [{ ip }, v];
  }
  update(k: EndpointKey, v: EndpointInfo): void {
    this.rows.set(k.ip, v);
  }
  delete(k: EndpointKey): boolean {
    return this.rows.delete(k.ip);
  }
}

const info = (epId: number): EndpointInfo => ({ ifindex: 10 + epId, epId, flags: 0, mac: '02:00:00:00:00:01', nodeMac: '02:00:00:00:00:02', secId: 0 });

describe('reconcileMap', () => {
  it('adds missing rows, rewrites changed ones and deletes stale ones', () => {
    const t = new FakeTable();
    t.update({ ip: '10.0.0.2' }, info(2));
    t.update({ ip: '10.0.0.3' }, { ...info(3), ifindex: 99 });
    t.update({ ip: '10.0.0.9' }, info(9));
    const r = reconcileMap(t, [[{ ip: '10.0.0.2' }, info(2)], [{ ip: '10.0.0.3' }, info(3)], [{ ip: '10.0.0.4' }, info(4)]], endpointKeyCodec, endpointInfoCodec);
    expect(r).toEqual({ updated: 2, deleted: 1, unchanged: 1 });
    expect([...t.rows.keys()].sort()).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(t.rows.get('10.0.0.3')?.ifindex).toBe(13);
  });
});
