// hubble-ui: `hubble-ui` serves the page on 8081 (HUBBLE_UI_PORT / --port) and proxies /api to the backend;
// `hubble-ui backend` serves JSON from Hubble Relay on EVENTS_SERVER_PORT (8090), relay at FLOWS_API_ADDR
// (default hubble-relay:80, as the chart sets it).
import { Command } from 'commander';
import { BackendServer } from './backend-server.js';
import { FrontendServer } from './frontend-server.js';
import { UiError } from './ui-error.js';

const env = process.env;

function port(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UiError('UI_BAD_PORT', `invalid ${what} "${v}"`, 'use a port 1..65535');
  return n;
}

function onStop(close: () => Promise<void>): void {
  const stop = (): void => {
    const t = setTimeout(() => process.exit(0), 2000);
    t.unref();
    void close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const program = new Command('hubble-ui').description('Hubble UI: service map and flow table from Hubble Relay');

program
  .command('frontend', { isDefault: true })
  .description('serve the page (and proxy /api to the backend)')
  .option('--port <port>', 'listen port (env HUBBLE_UI_PORT, default 8081)')
  .option('--backend <url>', 'backend base URL (env HUBBLE_UI_BACKEND, default http://127.0.0.1:8090)')
  .action(async (o: { port?: string; backend?: string }) => {
    const f = new FrontendServer({ backend: o.backend ?? env['HUBBLE_UI_BACKEND'] ?? 'http://127.0.0.1:8090', baseUrl: env['HUBBLE_UI_BASE_URL'] || '/' });
    const p = await f.listen(port(o.port ?? env['HUBBLE_UI_PORT'] ?? '8081', 'port'));
    process.stderr.write(`hubble-ui: frontend listening on :${p}\n`);
    onStop(() => f.close());
  });

program
  .command('backend')
  .description('serve /api/flows and /api/status from Hubble Relay')
  .option('--port <port>', 'listen port (env EVENTS_SERVER_PORT, default 8090)')
  .option('--flows-api-addr <address>', 'Hubble Relay host:port (env FLOWS_API_ADDR, default hubble-relay:80)')
  .action(async (o: { port?: string; flowsApiAddr?: string }) => {
    const b = new BackendServer({ flowsApiAddr: o.flowsApiAddr ?? env['FLOWS_API_ADDR'] ?? 'hubble-relay:80' });
    const p = await b.listen(port(o.port ?? env['EVENTS_SERVER_PORT'] ?? '8090', 'port'));
    process.stderr.write(`hubble-ui: backend listening on :${p}, relay ${o.flowsApiAddr ?? env['FLOWS_API_ADDR'] ?? 'hubble-relay:80'}\n`);
    onStop(() => b.close());
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof UiError) process.stderr.write(`hubble-ui: ${e.message}\nhint: ${e.hint}\n`);
  else process.stderr.write(`hubble-ui: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof UiError && e.code === 'UI_LISTEN' ? 1 : 2);
});
