import { create } from '@bufbuild/protobuf';
import { FlowSchema, GetFlowsResponseSchema, type GetFlowsResponse } from '@cilium-ts/api/hubble';
import { describe, expect, it } from 'vitest';
import { mergeFinished, responseTimeNs, SortBuffer } from './flow-merge.js';

const res = (sec: number, node: string): GetFlowsResponse =>
  create(GetFlowsResponseSchema, { nodeName: node, time: { seconds: BigInt(sec), nanos: 0 }, responseTypes: { case: 'flow', value: create(FlowSchema, { nodeName: node, time: { seconds: BigInt(sec), nanos: 0 } }) } });
const secs = (l: GetFlowsResponse[]) => l.map((r) => Number(responseTimeNs(r) / 1_000_000_000n));

describe('mergeFinished', () => {
  const a = [res(1, 'a'), res(4, 'a'), res(6, 'a')];
  const b = [res(2, 'b'), res(3, 'b'), res(5, 'b')];
  it('orders by time across nodes', () => expect(secs(mergeFinished([a, b], 0, false))).toEqual([1, 2, 3, 4, 5, 6]));
  it('keeps the last N, or the first N', () => {
    expect(secs(mergeFinished([a, b], 2, false))).toEqual([5, 6]);
    expect(secs(mergeFinished([a, b], 2, true))).toEqual([1, 2]);
  });
});

describe('SortBuffer', () => {
  it('releases held responses in time order after the drain timeout, and everything on close', async () => {
    const buf = new SortBuffer(100, 30);
    buf.push(res(5, 'a'));
    buf.push(res(2, 'b'));
    buf.push(res(9, 'a'));
    const ac = new AbortController();
    const out: GetFlowsResponse[] = [];
    const reading = (async () => {
      for await (const r of buf.drain(ac.signal)) out.push(r);
    })();
    await new Promise((r) => setTimeout(r, 100));
    expect(secs(out)).toEqual([2, 5, 9]);
    buf.push(res(1, 'b'));
    buf.close();
    await reading;
    expect(secs(out)).toEqual([2, 5, 9, 1]);
  });

  it('releases the oldest at once beyond lenMax; close(error) ends the stream with it', async () => {
    const buf = new SortBuffer(2, 60_000);
    for (const s of [7, 3, 5]) buf.push(res(s, 'a'));
    const ac = new AbortController();
    const it = buf.drain(ac.signal)[Symbol.asyncIterator]();
    expect(secs([(await it.next()).value as GetFlowsResponse])).toEqual([3]);
    buf.close(new Error('peer rejected the request'));
    expect(secs([(await it.next()).value as GetFlowsResponse, (await it.next()).value as GetFlowsResponse])).toEqual([5, 7]);
    await expect(it.next()).rejects.toThrow('peer rejected the request');
  });
});
