/**
 * CNI CHECK: the agent is reachable and knows the endpoint (with the IP of prevResult), the host veth
 * exists and is up, the pod interface exists in the netns with prevResult's addresses and routes
 * (extra routes added by later plugins are fine).
 */
import { Netlink } from '@cilium-ts/netlink';
import type { CniContext } from './cni-context.js';
import { toCniError } from './cni-context.js';
import { CniCode, CniError } from './cni-error.js';
import { parseResult } from './cni-result.js';
import { findEndpoint } from './find-endpoint.js';
import { hostVethName } from './host-veth-name.js';
import { closeFd, openPodNetns } from './pod-netns.js';

export async function cmdCheck(ctx: CniContext): Promise<void> {
  const { env, conf, agent } = ctx;
  const cid = env.containerId;
  const epId = `container-id:${cid}`;
  const hostName = hostVethName(cid, env.ifname);
  if (!conf.prevResult) {
    throw new CniError(CniCode.INVALID_CONFIG, 'CNI_INVALID_CONFIG', 'invalid network configuration: CHECK needs "prevResult"', {
      hint: 'the runtime must pass the result of the preceding ADD as prevResult',
    });
  }
  const prev = parseResult(conf.prevResult);
  const podIdx = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (podIdx < 0) {
    throw failed(`prevResult lists no interface ${env.ifname} in sandbox ${env.netns}`, 'CHECK must be run with the result of the ADD for this container and CNI_IFNAME');
  }
  const wantIps = prev.ips.filter((ip) => ip.interface === podIdx).map((ip) => ip.address);

  let ep;
  try {
    ep = await findEndpoint(agent, cid, env.ifname);
  } catch (e) {
    throw toCniError(e, `CHECK ${cid}/${env.ifname}: look up endpoint ${epId}`);
  }
  if (!ep) throw failed(`endpoint ${epId} is unknown to cilium-agent`, 'DEL and ADD the container again');
  const epIps = (ep.status?.networking?.addressing ?? []).map((a) => a.ipv4).filter((x): x is string => !!x);
  for (const cidr of wantIps) {
    const ip = cidr.split('/')[0] ?? '';
    if (!ip.includes(':') && !epIps.includes(ip)) {
      throw failed(`endpoint ${epId} holds ${epIps.join(', ') || 'no address'}, not ${ip}`, 'the agent lost the IP reservation; DEL and ADD the container again');
    }
  }

  let host: Netlink | undefined;
  let pod: Netlink | undefined;
  let nsFd: number | undefined;
  try {
    host = Netlink.open();
    const hl = host.linkByName(hostName);
    if (!hl) throw failed(`host veth ${hostName} is missing`, 'DEL and ADD the container again');
    if (!hl.up) throw failed(`host veth ${hostName} is down`, `ip link set ${hostName} up, or DEL and ADD again`);
    const wantHostMac = prev.interfaces.find((i) => i.name === hostName)?.mac;
    if (wantHostMac && wantHostMac.toLowerCase() !== hl.mac.toLowerCase()) {
      throw failed(`host veth ${hostName} has MAC ${hl.mac}, prevResult says ${wantHostMac}`, 'DEL and ADD the container again');
    }

    nsFd = openPodNetns(env.netns);
    pod = Netlink.open({ netnsFd: nsFd });
    const pl = pod.linkByName(env.ifname);
    if (!pl) throw failed(`interface ${env.ifname} is missing in ${env.netns}`, 'DEL and ADD the container again');
    if (!pl.up) throw failed(`interface ${env.ifname} in ${env.netns} is down`, 'DEL and ADD the container again');
    const wantMac = prev.interfaces[podIdx]?.mac;
    if (wantMac && wantMac.toLowerCase() !== pl.mac.toLowerCase()) {
      throw failed(`interface ${env.ifname} has MAC ${pl.mac}, prevResult says ${wantMac}`, 'DEL and ADD the container again');
    }
    const have = pod.addresses(pl.index).map((a) => a.cidr);
    for (const cidr of wantIps) {
      if (!have.includes(cidr)) {
        throw failed(`address ${cidr} is missing on ${env.ifname} in ${env.netns} (has ${have.join(', ') || 'none'})`, 'DEL and ADD the container again');
      }
    }
    const routes = pod.routes();
    for (const r of prev.routes) {
      const dst = normCidr(r.dst);
      const ok = routes.some((x) => normCidr(x.dst) === dst && (r.gw === undefined || x.gateway === r.gw));
      if (!ok) throw failed(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${env.netns}`, 'DEL and ADD the container again');
    }
  } catch (e) {
    throw toCniError(e, `CHECK ${cid}/${env.ifname}`);
  } finally {
    pod?.close();
    host?.close();
    closeFd(nsFd);
  }
}

function normCidr(s: string | undefined): string {
  if (!s || s === 'default') return '0.0.0.0/0';
  return s.includes('/') ? s : `${s}/${s.includes(':') ? 128 : 32}`;
}

function failed(msg: string, hint: string): CniError {
  return new CniError(CniCode.CHECK_FAILED, 'CNI_CHECK_FAILED', msg, { hint });
}
