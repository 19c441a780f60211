// peer.Peer/Notify and the Hubble TCP listener: a FlowObserver with a PeerNotifier serving on 127.0.0.1 (an
// ephemeral port), read by a real gRPC client over h2c.
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Observer, health, peer } from '@cilium-ts/api/hubble';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubbleError } from './hubble-error.js';
import { parseListenAddress } from './listen-address.js';
import { FlowObserver } from './observer-server.js';
import { PeerNotifier, type PeerNode } from './peer-notifier.js';

const T = peer.ChangeNotificationType;

describe('parseListenAddress', () => {
  it('accepts Cilium spellings', () => {
    expect(parseListenAddress(':4244')).toEqual({ host: '', port: 4244 });
    expect(parseListenAddress('0.0.0.0:4244')).toEqual({ host: '0.0.0.0', port: 4244 });
    expect(parseListenAddress('[::]:4244')).toEqual({ host: '::', port: 4244 });
    expect(parseListenAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
  });
  it('rejects the rest with a hint', () => {
    for (const bad of ['4244', 'a:b', ':99999', '::4244']) {
      expect(() => parseListenAddress(bad)).toThrow(HubbleError);
    }
  });
});

describe('PeerNotifier', () => {
  it('names peers <cluster>/<node> unless the cluster is default; announces ip:port of the listen address', () => {
    const nodes: PeerNode[] = [{ name: 'n2', ip: '172.30.0.12' }, { name: 'n1', ip: '172.30.0.99' }];
    const p = new PeerNotifier({ localName: 'n1', localIp: '172.30.0.11', listenAddress: ':4244', nodes: () => nodes });
    expect([...p.peers()]).toEqual([['n1', '172.30.0.11:4244'], ['n2', '172.30.0.12:4244']]);
    const q = new PeerNotifier({ localName: 'n1', localIp: undefined, listenAddress: '', clusterName: 'c1', nodes: () => [] });
    expect([...q.peers()]).toEqual([['c1/n1', '127.0.0.1:4244']]);
  });
});

describe('Hubble TCP listener with peer.Peer', () => {
  const nodes: PeerNode[] = [{ name: 'remote-a', ip: '172.30.0.12' }];
  const obs = new FlowObserver({
    nodeName: 'local',
    resolver: { byId: () => undefined, byIp: () => undefined },
    peers: new PeerNotifier({ localName: 'local', localIp: '172.30.0.11', listenAddress: ':4244', nodes: () => nodes, pollMs: 50 }),
  });
  let baseUrl = '';

  beforeAll(async () => {
    await obs.serveTcp('127.0.0.1:0');
    baseUrl = `http://${obs.tcpListenAddress}`;
  });
  afterAll(async () => {
    await obs.stop();
  });

  it('serves the observer and the health service over TCP', async () => {
    const transport = createGrpcTransport({ baseUrl });
    const s = await createClient(Observer, transport).serverStatus({});
    expect(s.numConnectedNodes).toBe(1);
    const h = await createClient(health.Health, transport).check({ service: 'peer.Peer' });
    expect(h.status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
  });

  it('Notify: every peer as PEER_ADDED, then additions, updates and deletions', async () => {
    const ac = new AbortController();
    const stream = createClient(peer.Peer, createGrpcTransport({ baseUrl })).notify(create(peer.NotifyRequestSchema, {}), { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    const next = async () => {
      const r = await it.next();
      if (r.done) throw new Error('stream ended');
      return { name: r.value.name, address: r.value.address, type: r.value.type };
    };
    const first = [await next(), await next()].sort((a, b) => a.name.localeCompare(b.name));
    expect(first).toEqual([
      { name: 'local', address: '172.30.0.11:4244', type: T.PEER_ADDED },
      { name: 'remote-a', address: '172.30.0.12:4244', type: T.PEER_ADDED },
    ]);
    nodes.push({ name: 'remote-b', ip: '172.30.0.13' });
    expect(await next()).toEqual({ name: 'remote-b', address: '172.30.0.13:4244', type: T.PEER_ADDED });
    nodes[0] = { name: 'remote-a', ip: '172.30.0.22' };
    expect(await next()).toEqual({ name: 'remote-a', address: '172.30.0.22:4244', type: T.PEER_UPDATED });
    nodes.splice(1, 1);
    expect(await next()).toEqual({ name: 'remote-b', address: '172.30.0.13:4244', type: T.PEER_DELETED });
    ac.abort();
  });

  it('a second listener on the same port fails with a stable code', async () => {
    const other = new FlowObserver({ nodeName: 'x', resolver: { byId: () => undefined, byIp: () => undefined } });
    await expect(other.serveTcp(obs.tcpListenAddress!)).rejects.toMatchObject({ code: 'HUBBLE_LISTEN' });
    await other.stop();
  });
});
