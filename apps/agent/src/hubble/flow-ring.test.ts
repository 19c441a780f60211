import { describe, expect, it } from 'vitest';
import { DEFAULT_RING_CAPACITY, FlowRing, type RingRead } from './flow-ring.js';

describe('FlowRing', () => {
  it('defaults to Hubble capacity and keeps the last N', () => {
    expect(new FlowRing<number>().capacity).toBe(DEFAULT_RING_CAPACITY);
    expect(DEFAULT_RING_CAPACITY).toBe(4095);
    const r = new FlowRing<number>(3);
    expect(r.snapshot()).toEqual([]);
    r.push(1);
    r.push(2);
    expect(r.snapshot()).toEqual([1, 2]);
    expect(r.size).toBe(2);
    for (let i = 3; i <= 7; i++) r.push(i);
    expect(r.snapshot()).toEqual([5, 6, 7]);
    expect(r.size).toBe(3);
    expect(r.seen).toBe(7);
    expect(r.oldestSeq).toBe(4);
    expect(r.at(3)).toBeUndefined();
    expect(r.at(4)).toBe(5);
    expect(r.at(7)).toBeUndefined();
    expect([...r.newestFirst()].map(([, v]) => v)).toEqual([7, 6, 5]);
    expect([...r.oldestFirst()].map(([s]) => s)).toEqual([4, 5, 6]);
    expect(() => new FlowRing(0)).toThrow(RangeError);
  });

  it('followers receive items pushed after they started, in order', async () => {
    const r = new FlowRing<string>(8);
    r.push('old');
    const ac = new AbortController();
    const got: string[] = [];
    const done = (async () => {
      for await (const x of r.follow({ signal: ac.signal })) {
        if (x.kind === 'item') got.push(x.value);
        if (got.length === 3) break;
      }
    })();
    await new Promise((res) => setTimeout(res, 10));
    expect(r.waiting).toBe(1);
    r.push('a');
    r.push('b');
    await new Promise((res) => setTimeout(res, 10));
    r.push('c');
    await done;
    expect(got).toEqual(['a', 'b', 'c']);
  });

  it('abort ends a waiting follower', async () => {
    const r = new FlowRing<number>(4);
    const ac = new AbortController();
    const it = r.follow({ signal: ac.signal });
    const next = it.next();
    setTimeout(() => ac.abort(), 10);
    expect(await next).toEqual({ done: true, value: undefined });
    expect(r.waiting).toBe(0);
  });

  it('a slow follower never makes the ring buffer more than capacity and is told what it lost', async () => {
    const r = new FlowRing<number>(4);
    const it = r.follow({ fromSeq: 0 });
    r.push(0);
    const first = await it.next();
    expect(first.value).toEqual({ kind: 'item', seq: 0, value: 0 });
    // the writer laps the reader while it is not pulling
    for (let i = 1; i <= 10; i++) r.push(i);
    const reads: Array<RingRead<number>> = [];
    for (let i = 0; i < 5; i++) {
      const n = await it.next();
      if (!n.done) reads.push(n.value);
    }
    expect(reads[0]).toEqual({ kind: 'lost', count: 6 }); // seq 1..6 overwritten
    expect(reads.slice(1).map((x) => (x.kind === 'item' ? x.value : -1))).toEqual([7, 8, 9, 10]);
    await it.return(undefined);
  });

  it('many concurrent followers each see every item', async () => {
    const r = new FlowRing<number>(100);
    const ac = new AbortController();
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map(async () => {
        const out: number[] = [];
        const started = r.follow({ signal: ac.signal, fromSeq: 0 });
        for await (const x of started) {
          if (x.kind === 'item') out.push(x.value);
          if (out.length === 50) break;
        }
        return out;
      }).concat([
        (async () => {
          for (let i = 0; i < 50; i++) {
            r.push(i);
            if (i % 7 === 0) await new Promise((res) => setImmediate(res));
          }
          return [];
        })(),
      ]),
    );
    for (const out of results.slice(0, 5)) expect(out).toEqual([...Array(50).keys()]);
  });
});
