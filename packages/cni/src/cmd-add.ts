/**
 * CNI ADD: IP from the agent, a veth (host `lxc…`, pod side created inside the netns as CNI_IFNAME),
 * the pod side configured (IP/32, on-link route to the router, default route, permanent neighbour),
 * the endpoint registered with the agent. Every step registers its undo; any failure runs them all.
 */
import { Netlink } from '@cilium-ts/netlink';
import type { EndpointChangeRequest } from '@cilium-ts/api';
import type { CniContext } from './cni-context.js';
import { toCniError } from './cni-context.js';
import { CniCode, CniError, describeError } from './cni-error.js';
import { formatResult, mergeResults, parseResult, type CniResult } from './cni-result.js';
import { findEndpoint } from './find-endpoint.js';
import { hostVethName } from './host-veth-name.js';
import { closeFd, openPodNetns, writeSysctlInNetns } from './pod-netns.js';

export async function cmdAdd(ctx: CniContext): Promise<Record<string, unknown>> {
  const { env, conf, log, agent } = ctx;
  const cid = env.containerId;
  const epId = `container-id:${cid}`;
  const hostName = hostVethName(cid, env.ifname);
  const undo: Array<{ what: string; fn: () => unknown }> = [];
  let nsFd: number | undefined;
  let host: Netlink | undefined;
  let pod: Netlink | undefined;
  let step = 'open the pod network namespace';
  try {
    nsFd = openPodNetns(env.netns);
    step = `open netlink in ${env.netns}`;
    pod = Netlink.open({ netnsFd: nsFd });
    if (pod.linkByName(env.ifname)) {
      throw new CniError(CniCode.INTERFACE_EXISTS, 'CNI_INTERFACE_EXISTS', `interface ${env.ifname} already exists in ${env.netns}`, {
        hint: 'a runtime must not ADD the same (CNI_CONTAINERID, CNI_IFNAME) twice without a DEL; pick another CNI_IFNAME or DEL first',
      });
    }
    step = 'open netlink in the host network namespace';
    host = Netlink.open();
    if (host.linkByName(hostName)) {
      // Left over by an earlier attachment of the same (container, ifname) whose DEL never came.
      log.warn('removing stale host veth', { interface: hostName });
      host.deleteLink(hostName);
    }

    step = 'allocate an IP address from cilium-agent';
    const owner = `${cid}:${env.ifname}`;
    const ipam = await agent.ipamAllocate({ family: 'ipv4', owner });
    const ip = ipam.address?.ipv4;
    const router = ipam.ipv4?.gateway ?? ipam['host-addressing']?.ipv4?.ip;
    if (!ip || !router) {
      if (ip) undo.push({ what: `release IP ${ip}`, fn: () => agent.ipamRelease(ip, { owner }) });
      throw new CniError(CniCode.AGENT_API, 'CNI_AGENT_BAD_IPAM', 'cilium-agent returned an IPAM answer without address or gateway', {
        details: JSON.stringify(ipam),
        hint: 'the agent and the plugin disagree on the API; rebuild both from the same tree',
      });
    }
    undo.push({ what: `release IP ${ip}`, fn: () => agent.ipamRelease(ip, { owner }) });
    log.debug('allocated IP', { ip, router });

    step = `create veth ${hostName} <-> ${env.ifname}`;
    host.createVeth({ name: hostName, peerName: env.ifname, peerNetnsFd: nsFd, mtu: conf.mtu });
    const h = host;
    undo.push({ what: `delete veth ${hostName}`, fn: () => h.deleteLink(hostName) });
    const hostLink = host.linkByName(hostName);
    if (!hostLink) throw new Error(`veth ${hostName} not found after creation`);
    if (hostLink.mtu !== conf.mtu) host.setMtu(hostLink.index, conf.mtu);
    step = `set ${hostName} up`;
    host.setLinkUp(hostLink.index);

    step = `configure ${env.ifname} in ${env.netns}`;
    const podLink = pod.linkByName(env.ifname);
    if (!podLink) throw new Error(`${env.ifname} not found in ${env.netns} after creating the veth`);
    if (podLink.mtu !== conf.mtu) pod.setMtu(podLink.index, conf.mtu);
    const lo = pod.linkByName('lo');
    if (lo && !lo.up) pod.setLinkUp(lo.index);
    pod.setLinkUp(podLink.index);
    step = `disable IPv6 on ${env.ifname}`;
    if (!writeSysctlInNetns(nsFd, `net.ipv6.conf.${env.ifname}.disable_ipv6`, '1')) {
      log.debug('IPv6 sysctl not present (IPv6 disabled in the kernel?)', { interface: env.ifname });
    }
    step = `add address ${ip}/32 to ${env.ifname}`;
    pod.addAddress(podLink.index, `${ip}/32`);
    step = `add route ${router}/32 dev ${env.ifname} scope link`;
    pod.addRoute({ dst: `${router}/32`, ifindex: podLink.index, scope: 'link' });
    step = `add default route via ${router}`;
    pod.addRoute({ dst: '0.0.0.0/0', gateway: router, ifindex: podLink.index });
    step = `add neighbour ${router} -> ${hostLink.mac}`;
    pod.addNeighbour({ ifindex: podLink.index, ip: router, mac: hostLink.mac, permanent: true, replace: true });

    step = `register endpoint ${epId} with cilium-agent`;
    const req: EndpointChangeRequest = {
      'container-id': cid,
      'container-interface-name': env.ifname,
      'interface-name': hostName,
      'interface-index': hostLink.index,
      mac: podLink.mac,
      'host-mac': hostLink.mac,
      addressing: { ipv4: ip },
      'netns-path': env.netns,
    };
    if (env.args.k8sPodName) req['k8s-pod-name'] = env.args.k8sPodName;
    if (env.args.k8sPodNamespace) req['k8s-namespace'] = env.args.k8sPodNamespace;
    // A failed PUT may have left a half-made endpoint behind: its undo comes first.
    undo.push({
      what: `delete endpoint ${epId}/${env.ifname}`,
      fn: async () => {
        const ep = await findEndpoint(agent, cid, env.ifname);
        return ep ? agent.endpointDelete(ep.id) : false;
      },
    });
    const ep = await agent.endpointPut(epId, req);
    log.info('endpoint created', { endpoint: ep?.id, ip, interface: hostName });

    const ours: CniResult = {
      interfaces: [
        { name: hostName, mac: hostLink.mac, mtu: conf.mtu },
        { name: env.ifname, mac: podLink.mac, mtu: conf.mtu, sandbox: env.netns },
      ],
      ips: [{ address: `${ip}/32`, gateway: router, interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: router }],
      dns: {},
    };
    const result = conf.prevResult ? mergeResults(parseResult(conf.prevResult), ours) : ours;
    return formatResult(result, conf.cniVersion);
  } catch (e) {
    const err = toCniError(e, `ADD ${cid}/${env.ifname}: ${step}`);
    for (const u of undo.reverse()) {
      try {
        await u.fn();
        log.debug('undone', { what: u.what });
      } catch (ue) {
        log.error('undo failed', { what: u.what, error: describeError(ue) });
      }
    }
    throw err;
  } finally {
    pod?.close();
    host?.close();
    closeFd(nsFd);
  }
}
