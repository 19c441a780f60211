// hubble-relay: `hubble-relay serve` aggregates the Hubble servers of every node (found through the
// peer service) into one observer.Observer endpoint. Settings: --config (the chart's
// /etc/hubble-relay/config.yaml), overridden by flags.
import { Command } from 'commander';
import { destination, pino } from 'pino';
import { loadRelayConfig, type RelayFlags } from './relay-config.js';
import { RelayError } from './relay-error.js';
import { PeerManager } from './peer-manager.js';
import { RelayServer } from './relay-server.js';

function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) > 65535) throw new RelayError('RELAY_CONFIG_INVALID', `invalid listen-address "${text}"`, 'use host:port, e.g. ":4245"');
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

const program = new Command('hubble-relay').description('Hubble Relay: one Hubble API for every node of the cluster');

program
  .command('serve')
  .description('run the relay')
  .option('--config <file>', 'YAML config (upstream key names; default /etc/hubble-relay/config.yaml when present)')
  .option('--peer-service <address>', 'peer service: host:port or unix:///path/to/hubble.sock (default unix:///var/run/cilium/hubble.sock)')
  .option('--listen-address <address>', 'serve observer.Observer on host:port (default ":4245")')
  .option('--dial-timeout <duration>', 'deadline to reach a peer (default 5s)')
  .option('--retry-timeout <duration>', 'wait before retrying the peer service (default 30s)')
  .option('--sort-buffer-len-max <n>', 'flows held to order follow streams (default 100)')
  .option('--sort-buffer-drain-timeout <duration>', 'longest a flow is held to order follow streams (default 1s)')
  .option('--cluster-name <name>', 'cluster name (default "default")')
  .option('--debug', 'debug logs')
  .action(async (o: RelayFlags & { debug?: boolean }) => {
    const log = pino({ name: 'hubble-relay', level: o.debug ? 'debug' : 'info', base: { pid: process.pid } }, destination({ fd: 2, sync: true }));
    let relay: RelayServer;
    let peers: PeerManager;
    try {
      const c = loadRelayConfig(o);
      if (c.tlsRequested.length > 0) log.warn({ keys: c.tlsRequested }, 'TLS is not supported: peers are dialed and clients served in cleartext HTTP/2');
      const listen = parseListen(c.listenAddress);
      peers = new PeerManager({ peerService: c.peerService, dialTimeoutMs: c.dialTimeoutMs, retryTimeoutMs: c.retryTimeoutMs, log });
      relay = new RelayServer({ peers, sortBufferLenMax: c.sortBufferLenMax, sortBufferDrainTimeoutMs: c.sortBufferDrainTimeoutMs, log });
      await relay.listen(listen.host, listen.port);
      peers.start();
      log.info({ listen: relay.address, peerService: c.peerService, dialTimeoutMs: c.dialTimeoutMs, retryTimeoutMs: c.retryTimeoutMs }, 'hubble-relay ready');
    } catch (e) {
      if (e instanceof RelayError) {
        process.stderr.write(`hubble-relay: ${e.message}\nhint: ${e.hint}\n`);
        process.exit(e.code === 'RELAY_LISTEN' ? 1 : 2);
      }
      throw e;
    }
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'stopping');
      const force = setTimeout(() => process.exit(0), 3000);
      force.unref();
      void Promise.all([relay.close(), peers.stop()]).finally(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`hubble-relay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
