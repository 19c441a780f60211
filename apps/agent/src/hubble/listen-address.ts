// Hubble's TCP listen addresses as Cilium spells them: ":4244" (every address), "0.0.0.0:4244",
// "[::]:4244", "127.0.0.1:4244", "localhost:4244". An empty string means "no TCP listener".
import { HubbleError } from './hubble-error.js';

export interface ListenAddress {
  /** '' for every address (the caller tries '::' then '0.0.0.0'). */
  host: string;
  port: number;
}

export function parseListenAddress(text: string, what = 'hubble-listen-address'): ListenAddress {
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new HubbleError('HUBBLE_LISTEN_ADDRESS', `invalid ${what} "${text}"`, `use host:port, e.g. ":4244" or "127.0.0.1:4244" (empty: no TCP listener)`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
