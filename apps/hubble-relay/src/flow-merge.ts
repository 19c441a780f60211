// Merging GetFlows responses of several nodes: by time for a finished listing; for live streams a sort
// buffer (as upstream's relay) that holds each response for up to `drainMs` (or until `lenMax` are held) and
// releases them oldest first, so the histories that every node sends at once come out interleaved by time.
import type { GetFlowsResponse } from '@cilium-ts/api/hubble';

export function responseTimeNs(r: GetFlowsResponse): bigint {
  const t = r.time ?? (r.responseTypes.case === 'flow' ? r.responseTypes.value.time : undefined);
  return t ? t.seconds * 1_000_000_000n + BigInt(t.nanos) : 0n;
}

const byTime = (a: GetFlowsResponse, b: GetFlowsResponse): number => {
  const d = responseTimeNs(a) - responseTimeNs(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

/** All responses ordered by time; then the first or last `limit` (0: all). */
export function mergeFinished(lists: GetFlowsResponse[][], limit: number, first: boolean): GetFlowsResponse[] {
  const all = lists.flat().sort(byTime);
  if (limit <= 0 || all.length <= limit) return all;
  return first ? all.slice(0, limit) : all.slice(all.length - limit);
}

interface Held {
  res: GetFlowsResponse;
  at: number;
}

/** A push/pull queue with the sort buffer in between. */
export class SortBuffer {
  readonly #held: Held[] = [];
  readonly #ready: GetFlowsResponse[] = [];
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #error: unknown;

  constructor(
    private readonly lenMax: number,
    private readonly drainMs: number,
  ) {}

  push(res: GetFlowsResponse): void {
    if (this.#closed) return;
    this.#held.push({ res, at: Date.now() });
    if (this.#held.length > this.lenMax) this.#release(this.#held.length - this.lenMax);
    this.#arm();
  }

  /** Ends the stream (after what is held), with an error if given. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#release(this.#held.length);
    this.#notify();
  }

  #arm(): void {
    if (this.#timer || this.#held.length === 0) return;
    const oldest = Math.min(...this.#held.map((h) => h.at));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const cutoff = Date.now() - this.drainMs;
      const due = this.#held.filter((h) => h.at <= cutoff).length;
      // everything that arrived before the oldest due entry's deadline is released together, in time order
      this.#release(Math.max(due, 0));
      this.#arm();
    }, Math.max(0, oldest + this.drainMs - Date.now()));
  }

  /** Releases the `n` oldest (by flow time) held responses. */
  #release(n: number): void {
    if (n <= 0) return;
    this.#held.sort((a, b) => byTime(a.res, b.res));
    for (const h of this.#held.splice(0, n)) this.#ready.push(h.res);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async *drain(signal: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    const onAbort = (): void => this.#notify();
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (this.#ready.length > 0) {
          if (signal.aborted) return;
          yield this.#ready.shift()!;
        }
        if (signal.aborted) return;
        if (this.#closed) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#closed = true;
    }
  }
}
