// cilium-operator: registers the CRDs, serves /healthz, campaigns for the Lease and, while leader, runs the
// cluster-pool IPAM controller, the LB-IPAM controller (enable-lb-ipam) and the garbage collector.
import http from 'node:http';
import { ciliumCrds, KubeClient, LeaderElector } from '@cilium-ts/k8s';
import type { Logger } from 'pino';
import type { OperatorConfig } from './config.js';
import { ClusterPoolAllocator } from './cluster-pool.js';
import { registerCrds } from './crd-registrar.js';
import { GarbageCollector } from './gc.js';
import { IpamController } from './ipam-controller.js';
import { LbIpamController } from './lb-ipam.js';

export class Operator {
  readonly #cfg: OperatorConfig;
  readonly #log: Logger;
  readonly #client: KubeClient;
  #server: http.Server | undefined;
  #elector: LeaderElector | undefined;
  #ipam: IpamController | undefined;
  #gc: GarbageCollector | undefined;
  #lbIpam: LbIpamController | undefined;
  #ready = false;
  #leading: Promise<void> = Promise.resolve();

  constructor(cfg: OperatorConfig, log: Logger, client?: KubeClient) {
    this.#cfg = cfg;
    this.#log = log;
    // A bad pool list fails the start (code + hint), not the leader later.
    new ClusterPoolAllocator(cfg.clusterPoolIPv4CIDRs, cfg.clusterPoolIPv4MaskSize);
    this.#client = client ?? KubeClient.fromKubeConfig(cfg.kubeconfig);
  }

  get isLeader(): boolean {
    return this.#elector?.isLeader ?? false;
  }

  async start(): Promise<void> {
    await this.#startHealth();
    if (this.#cfg.registerCrds) {
      for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
        try {
          await registerCrds(this.#client, ciliumCrds(), this.#log);
          break;
        } catch (e) {
          this.#log.warn({ code: (e as { code?: string }).code, hint: (e as { hint?: string }).hint, err: (e as Error).message }, 'CRD registration failed; retrying');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    }
    this.#ready = true;
    this.#elector = new LeaderElector(this.#client, {
      namespace: this.#cfg.leaderElectionNamespace,
      name: this.#cfg.leaderElectionLeaseName,
      logger: this.#log,
      onStartedLeading: () => {
        this.#leading = this.#leading.then(() => this.#startLeading());
      },
      onStoppedLeading: () => {
        // Stop allocating at once (also unblocks an IPAM start still waiting for its first list).
        void this.#ipam?.stop();
        void this.#lbIpam?.stop();
        this.#leading = this.#leading.then(() => this.#stopLeading());
      },
      onNewLeader: (id) => this.#log.info({ leader: id }, 'leader election: current leader'),
    });
    this.#log.info({ identity: this.#elector.identity, lease: `${this.#cfg.leaderElectionNamespace}/${this.#cfg.leaderElectionLeaseName}` }, 'leader election: campaigning');
    this.#elector.start();
  }

  async #startLeading(): Promise<void> {
    if (!this.#elector?.isLeader) return; // lost again before this ran
    const ipam = new IpamController(this.#client, {
      cidrs: this.#cfg.clusterPoolIPv4CIDRs,
      maskSize: this.#cfg.clusterPoolIPv4MaskSize,
      log: this.#log.child({ subsys: 'ipam' }),
    });
    this.#ipam = ipam;
    if (this.#cfg.enableLbIpam) {
      // Independent of the pod-CIDR IPAM; its start waits for the Service and pool informers.
      const lb = new LbIpamController(this.#client, { log: this.#log.child({ subsys: 'lb-ipam' }), defaultIpam: this.#cfg.lbIpamDefault });
      this.#lbIpam = lb;
      lb.start().catch((e: unknown) =>
        this.#log.error({ code: (e as { code?: string }).code, hint: (e as { hint?: string }).hint, err: (e as Error).message }, 'LB-IPAM controller failed to start'),
      );
    }
    try {
      await ipam.start();
    } catch (e) {
      this.#log.error({ code: (e as { code?: string }).code, hint: (e as { hint?: string }).hint, err: (e as Error).message }, 'IPAM controller failed to start');
    }
    if (!this.#elector.isLeader) return;
    this.#gc = new GarbageCollector(this.#client, {
      intervalMs: this.#cfg.identityGcIntervalMs,
      log: this.#log.child({ subsys: 'gc' }),
      hasNode: (n) => ipam.hasNode(n),
    });
    this.#gc.start();
  }

  async #stopLeading(): Promise<void> {
    await this.#gc?.stop();
    await this.#ipam?.stop();
    await this.#lbIpam?.stop();
    this.#gc = undefined;
    this.#ipam = undefined;
    this.#lbIpam = undefined;
  }

  #startHealth(): Promise<void> {
    this.#server = http.createServer((req, res) => {
      if (req.url === '/healthz' || req.url?.startsWith('/healthz?')) {
        res.writeHead(this.#ready ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(this.#ready ? 'ok\n' : 'starting: CRDs not registered yet\n');
        return;
      }
      if (req.url === '/v1/status' || req.url === '/status') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ready: this.#ready, leader: this.isLeader, identity: this.#elector?.identity ?? null, pools: this.#ipam?.allocator.status() ?? null, lbIpam: this.#lbIpam?.status() ?? null }));
        return;
      }
      res.writeHead(404).end();
    });
    return new Promise((resolve, reject) => {
      this.#server!.once('error', (e: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`health server on ${this.#cfg.healthAddress}:${this.#cfg.healthPort}: ${e.message}`), { code: 'EHEALTHLISTEN', errno: e.code, hint: 'pick a free --health-port' })),
      );
      this.#server!.listen(this.#cfg.healthPort, this.#cfg.healthAddress, () => {
        this.#log.info({ port: this.#cfg.healthPort }, 'health server listening (/healthz)');
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    await this.#elector?.stop();
    await this.#leading;
    await this.#stopLeading();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
