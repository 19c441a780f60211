import { Command } from 'commander';
import { ConfigError, loadAgentConfig } from './config.js';
import { createLogger } from './log.js';
import { Daemon } from './daemon.js';

const program = new Command('cilium-agent')
  .description('cilium-ts node agent: IPAM, endpoints, BPF datapath, Hubble, REST API')
  .option('--config-file <path>', 'YAML file with agent settings (kebab-case keys as the flags)')
  .option('--pod-cidr <cidr>', 'IPv4 pod CIDR of this node (host-scope IPAM)')
  .option('--state-dir <dir>', 'directory for persistent state (default /var/run/cilium/state)')
  .option('--bpf-root <dir>', 'bpffs root; maps are pinned under <bpf-root>/tc/globals (default /sys/fs/bpf)')
  .option('--bpf-dir <dir>', 'directory holding bpf_lxc.o (default: bpf/build next to the binary)')
  .option('--socket-path <path>', 'REST API unix socket (default /var/run/cilium/cilium.sock)')
  .option('--hubble-socket-path <path>', 'Hubble gRPC unix socket (default /var/run/cilium/hubble.sock)')
  .option('--hubble-listen-address <addr>', 'Hubble TCP listener for Relay, host:port (default ":4244"; "" for none; no TLS)')
  .option('--host-device <name>', 'dummy device holding the router IP (default cilium_host)')
  .option('--node-name <name>', 'node name (default: hostname)')
  .option('--monitor-aggregation <level>', 'none | medium (default medium)')
  .option('--ct-gc-interval <seconds>', 'conntrack GC interval in seconds (default 30)', (v) => Number(v))
  .option('--log-level <level>', 'debug | info | warn | error (default info)')
  .option('--routing-mode <mode>', 'tunnel (VXLAN, default) | native (kernel routes via node IPs)')
  .option('--tunnel-protocol <proto>', 'vxlan (default)')
  .option('--tunnel-port <port>', 'VXLAN UDP port (default 8472)', (v) => Number(v))
  .option('--tunnel-device <name>', 'VXLAN device name (default cilium_vxlan)')
  .option('--node-ip <ip>', "this node's underlay IPv4 (default: the address of the interface with the default route)")
  .option('--remote-nodes-file <path>', 'JSON list of other nodes [{name, ip, podCIDRs}], watched for changes')
  .option('--config-dir <dir>', "the cilium-config ConfigMap mounted as a directory (one file per key, Cilium's key names)")
  .option('--k8s-mode [bool]', 'Kubernetes mode (default: on when a kubeconfig or in-cluster config is available and no --pod-cidr is given)', (v: string) => v !== 'false')
  .option('--k8s-kubeconfig-path <path>', 'kubeconfig (default $KUBECONFIG, else in-cluster: KUBERNETES_SERVICE_HOST/PORT + service account)')
  .option('--k8s-namespace <ns>', 'namespace of the agent (default $CILIUM_K8S_NAMESPACE, else kube-system)')
  .option('--ipam <mode>', 'cluster-pool (CiliumNode spec.ipam.podCIDRs, default) | kubernetes (Node spec.podCIDRs)')
  .option('--kube-proxy-replacement <mode>', 'true | false | strict | probe | partial | disabled (reported in /v1/healthz)')
  .option('--enable-hubble [bool]', 'serve Hubble on --hubble-socket-path (default true)', (v: string) => v !== 'false')
  .option('--agent-health-port <port>', 'GET /healthz on 127.0.0.1:<port> (default 9879, 0: off)', (v) => Number(v))
  // services / kube-proxy replacement (Cilium's flags)
  .option('--enable-ipv4-masquerade [bool]', 'masquerade pod traffic leaving the cluster to the node address (iptables)', (v: string) => v !== 'false')
  .option('--ipv4-native-routing-cidr <cidr>', 'destinations never masqueraded (default: the cluster pool, else the pod CIDR)')
  .option('--enable-node-port [bool]', 'NodePort services (kube-proxy-replacement=partial; on in true/strict/probe)', (v: string) => v !== 'false')
  .option('--enable-host-port [bool]', 'HostPort (kube-proxy-replacement=partial)', (v: string) => v !== 'false')
  .option('--enable-external-ips [bool]', 'ExternalIPs services (kube-proxy-replacement=partial)', (v: string) => v !== 'false')
  .option('--enable-host-reachable-services [bool]', 'socket LB: bpf_sock on --cgroup-root (kube-proxy-replacement=partial)', (v: string) => v !== 'false')
  .option('--bpf-lb-sock [bool]', 'socket LB (newer name of --enable-host-reachable-services)', (v: string) => v !== 'false')
  .option('--enable-session-affinity [bool]', 'sessionAffinity: ClientIP (default on)', (v: string) => v !== 'false')
  .option('--bpf-lb-algorithm <alg>', 'random (default) | maglev')
  .option('--bpf-lb-mode <mode>', 'snat (default) | dsr | hybrid (DSR for TCP, SNAT for UDP); DSR needs --routing-mode native')
  .option('--node-port-range <range>', 'NodePort range (default 30000-32767)')
  .option('--bpf-lb-maglev-hash-seed <seed>', 'Maglev hash seed (base64, default as Cilium)')
  .option('--cgroup-root <dir>', 'cgroup2 directory for socket LB (default /run/cilium/cgroupv2); never the root of the hierarchy')
  .option('--bpf-lb-sock-detach-on-shutdown [bool]', 'detach bpf_sock from --cgroup-root on shutdown (default false: stays attached)', (v: string) => v !== 'false')
  .option('--enable-ipv4-fragment-tracking [bool]', 'load-balance and NAT later IPv4 fragments with the ports of their first (default true)', (v: string) => v !== 'false')
  .option('--devices <list>', 'node devices for bpf_host (NodePort, ExternalIPs), comma-separated', (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
  .action(async (o: Record<string, string | number | boolean | string[] | undefined>) => {
    let config;
    const unknownKeys: string[] = [];
    try {
      config = loadAgentConfig(
        {
          podCidr: o.podCidr,
          stateDir: o.stateDir,
          bpfRoot: o.bpfRoot,
          bpfDir: o.bpfDir,
          socketPath: o.socketPath,
          hubbleSocketPath: o.hubbleSocketPath,
          hubbleListenAddress: o.hubbleListenAddress,
          hostDevice: o.hostDevice,
          nodeName: o.nodeName,
          monitorAggregation: o.monitorAggregation,
          ctGcIntervalSeconds: o.ctGcInterval,
          logLevel: o.logLevel,
          routingMode: o.routingMode,
          tunnelProtocol: o.tunnelProtocol,
          tunnelPort: o.tunnelPort,
          tunnelDevice: o.tunnelDevice,
          nodeIp: o.nodeIp,
          remoteNodesFile: o.remoteNodesFile,
          k8sMode: o.k8sMode === undefined ? undefined : o.k8sMode !== false,
          k8sKubeconfigPath: o.k8sKubeconfigPath,
          k8sNamespace: o.k8sNamespace,
          ipamMode: o.ipam,
          kubeProxyReplacement: o.kubeProxyReplacement,
          enableHubble: o.enableHubble === undefined ? undefined : o.enableHubble !== false,
          agentHealthPort: o.agentHealthPort,
          enableIpv4Masquerade: o.enableIpv4Masquerade === undefined ? undefined : o.enableIpv4Masquerade !== false,
          ipv4NativeRoutingCidr: o.ipv4NativeRoutingCidr,
          enableNodePort: o.enableNodePort === undefined ? undefined : o.enableNodePort !== false,
          enableHostPort: o.enableHostPort === undefined ? undefined : o.enableHostPort !== false,
          enableExternalIps: o.enableExternalIps === undefined ? undefined : o.enableExternalIps !== false,
          enableHostReachableServices: o.enableHostReachableServices === undefined ? undefined : o.enableHostReachableServices !== false,
          bpfLbSock: o.bpfLbSock === undefined ? undefined : o.bpfLbSock !== false,
          enableSessionAffinity: o.enableSessionAffinity === undefined ? undefined : o.enableSessionAffinity !== false,
          bpfLbAlgorithm: o.bpfLbAlgorithm,
          bpfLbMode: o.bpfLbMode,
          nodePortRange: o.nodePortRange,
          bpfLbMaglevHashSeed: o.bpfLbMaglevHashSeed,
          cgroupRoot: o.cgroupRoot,
          bpfLbSockDetachOnShutdown: o.bpfLbSockDetachOnShutdown === undefined ? undefined : o.bpfLbSockDetachOnShutdown !== false,
          enableIpv4FragmentTracking: o.enableIpv4FragmentTracking === undefined ? undefined : o.enableIpv4FragmentTracking !== false,
          devices: o.devices,
        },
        typeof o.configFile === 'string' ? o.configFile : undefined,
        { configDir: typeof o.configDir === 'string' ? o.configDir : undefined, onUnknownKeys: (k) => unknownKeys.push(...k) },
      );
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`cilium-agent: ${e.message}\nhint: ${e.hint}\n`);
        process.exit(2);
      }
      throw e;
    }
    const log = createLogger(config.logLevel);
    if (unknownKeys.length > 0) log.debug({ keys: unknownKeys }, 'config dir: keys this agent does not know, ignored');
    const daemon = new Daemon(config, log);
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'stopping (programs stay attached, maps stay pinned)');
      void daemon.stop().finally(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    try {
      await daemon.start();
    } catch (e) {
      const err = e as { code?: string; message?: string; hint?: string; errno?: number };
      log.fatal({ code: err.code, errno: err.errno, hint: err.hint }, err.message ?? String(e));
      process.stderr.write(`cilium-agent: ${err.message ?? String(e)}${err.hint ? `\nhint: ${err.hint}` : ''}\n`);
      await daemon.stop().catch(() => undefined);
      process.exit(1);
    }
  });

await program.parseAsync(process.argv);
