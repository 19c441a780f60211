import { Command } from 'commander';
import { destination, pino } from 'pino';
import { ConfigError, loadOperatorConfig, type OperatorFlags } from './config.js';
import { Operator } from './operator.js';

const program = new Command('cilium-operator')
  .description('cilium-ts operator: CRD registration, cluster-pool IPAM, LB-IPAM, identity/endpoint GC, leader election')
  .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, in-cluster service account, ~/.kube/config)')
  .option('--cluster-pool-ipv4-cidr <cidrs>', 'pod CIDR pool(s), comma or space separated (default 10.0.0.0/8)')
  .option('--cluster-pool-ipv4-mask-size <bits>', 'prefix length of each node pod CIDR (default 24)')
  .option('--identity-gc-interval <duration>', 'GC interval for identities and endpoints (default 15m0s)')
  .option('--leader-election-namespace <ns>', 'namespace of the leader-election Lease (default kube-system)')
  .option('--leader-election-lease-name <name>', 'name of the Lease (default cilium-operator-resource-lock)')
  .option('--health-port <port>', 'port of GET /healthz (default 9234)')
  .option('--health-address <addr>', 'address of the health server (default 0.0.0.0)')
  .option('--config-dir <dir>', 'directory of the mounted cilium-config ConfigMap (one file per key)')
  .option('--skip-crd-creation', 'do not register the CRDs')
  .option('--enable-lb-ipam [bool]', 'LB-IPAM: IPs for Services of type LoadBalancer from CiliumLoadBalancerIPPools (default true)')
  .option('--default-lb-service-ipam <ipam>', 'lbipam (default): Services without a loadBalancerClass get LB-IPAM IPs; nodeipam | none: they do not')
  .option('--log-level <level>', 'debug | info | warn | error (default info)')
  .option('--debug [bool]', 'debug logging (true|false; empty = the config dir\'s debug key)')
  // Real Cilium operator flags we do not implement (e.g. from the chart's operator.extraArgs) are logged and ignored.
  .allowUnknownOption(true)
  .allowExcessArguments(true)
  .action(async (o: OperatorFlags) => {
    let cfg;
    try {
      cfg = loadOperatorConfig(o);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`cilium-operator: ${e.message} (${e.code}; ${e.hint})\n`);
        process.exit(2);
      }
      throw e;
    }
    const log = pino({ name: 'cilium-operator', level: cfg.logLevel, base: { pid: process.pid } }, destination({ fd: 2, sync: true }));
    if (program.args.length > 0) log.warn({ ignored: program.args }, 'ignoring unsupported arguments');
    log.info({ pools: cfg.clusterPoolIPv4CIDRs, maskSize: cfg.clusterPoolIPv4MaskSize, gcIntervalMs: cfg.identityGcIntervalMs, lbIpam: cfg.enableLbIpam }, 'cilium-operator starting');
    let op: Operator;
    try {
      op = new Operator(cfg, log);
      await op.start();
    } catch (e) {
      const err = e as { code?: string; hint?: string; message: string };
      log.fatal({ code: err.code, hint: err.hint }, err.message);
      process.exit(1);
    }
    let stopping = false;
    const shutdown = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'stopping (releasing the leader lease)');
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      void op.stop().then(() => process.exit(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });

await program.parseAsync(process.argv);
