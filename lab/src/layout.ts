// Names, paths and the address plan of one lab. Everything a lab creates is derived from its name and its
// index (1..250, claimed at `up`), so several labs can run side by side without sharing anything.
import { join } from 'node:path';
import { LabError } from './lab-error.js';

export const LAB_RUN_DIR = '/run/cilium-lab';
/** Index claims: LAB_RUN_DIR/.index/<n> holds the name of the lab that owns index n. */
export const INDEX_DIR = join(LAB_RUN_DIR, '.index');
export const MAX_LAB_INDEX = 250;
export const MAX_NODES = 200;

export const APISERVER_PORT = 6443;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const DNS_PORT = 53;
export const SERVICE_CIDR = '10.96.0.0/16';
export const SERVICE_API_IP = '10.96.0.1';
export const DNS_SERVICE_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** Pod annotation in which the lab kubelet records the path of a pod's netns (read by `cilium-lab exec`). */
export const NETNS_ANNOTATION = 'lab.cilium-ts.io/netns';

const NAME_RE = /^[a-z][a-z0-9]{0,11}$/;
const NODE_RE = /^[a-z][a-z0-9]{0,15}$/;

export function checkLabName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new LabError(
      'LAB_BAD_NAME',
      `invalid lab name ${JSON.stringify(name)}`,
      'use 1-12 characters, lower-case letters and digits, starting with a letter (e.g. "demo", "t1a2b"); no dashes, so "<lab>-" prefixes never overlap',
    );
  }
}

export function checkNodeName(node: string): void {
  if (!NODE_RE.test(node)) {
    throw new LabError('LAB_BAD_NODE', `invalid node name ${JSON.stringify(node)}`, 'nodes are named node1, node2, ...');
  }
}

export function nodeName(i: number): string {
  return `node${i}`;
}

export interface LabLayout {
  name: string;
  index: number;
  dir: string;
  stateFile: string;
  certDir: string;
  logDir: string;
  etcdDir: string;
  resolvConf: string;
  corefile: string;
  adminKubeconfig: string;
  /** The underlay netns: holds the bridge every node and the control plane hang on. */
  underlayNetns: string;
  /** The control plane netns (etcd, apiserver, controller-manager, scheduler, CoreDNS). */
  cpNetns: string;
  bridge: string;
  subnet: string;
  prefixLen: number;
  gatewayIp: string;
  cpIp: string;
}

export function labDir(name: string): string {
  return join(LAB_RUN_DIR, name);
}

/**
 * The address plan: lab index n owns 172.30.n.0/24 (inside its own netns only). .1 is the bridge in the
 * underlay netns (the nodes' default gateway, which forwards nowhere), .2 the control plane, .10+i node i.
 */
export function labLayout(name: string, index: number): LabLayout {
  checkLabName(name);
  if (!Number.isInteger(index) || index < 1 || index > MAX_LAB_INDEX) {
    throw new LabError('LAB_BAD_INDEX', `lab index ${index} out of range`, `1..${MAX_LAB_INDEX}`);
  }
  const dir = labDir(name);
  return {
    name,
    index,
    dir,
    stateFile: join(dir, 'state.json'),
    certDir: join(dir, 'pki'),
    logDir: join(dir, 'logs'),
    etcdDir: join(dir, 'etcd'),
    resolvConf: join(dir, 'resolv.conf'),
    corefile: join(dir, 'Corefile'),
    adminKubeconfig: join(dir, 'admin.kubeconfig'),
    underlayNetns: `${name}-ul`,
    cpNetns: `${name}-cp`,
    bridge: 'br0',
    subnet: `172.30.${index}.0/24`,
    prefixLen: 24,
    gatewayIp: `172.30.${index}.1`,
    cpIp: `172.30.${index}.2`,
  };
}

export interface NodeLayout {
  name: string;
  netns: string;
  ip: string;
  /** veth end in the underlay netns (enslaved to the bridge); the node's end is eth0. */
  underlayLink: string;
  dir: string;
  cniConfDir: string;
  cniBinDir: string;
  kubeconfig: string;
  cgroupRoot: string;
}

/** A node's cgroup path relative to each hierarchy (the kubelet's --cgroup-root; pods and `exec` live below it). */
export function nodeCgroupRoot(labName: string, node: string): string {
  return `cilium-lab/${labName}/${node}`;
}

/** The cgroup2 dir under a node's subtree that `cilium-lab exec <node>` runs commands in (the node's "own" processes). */
export const NODE_HOST_CGROUP = 'host';

export function nodeLayout(lab: LabLayout, i: number): NodeLayout {
  const name = nodeName(i);
  const dir = join(lab.dir, 'nodes', name);
  return {
    name,
    netns: `${lab.name}-${name}`,
    ip: `172.30.${lab.index}.${10 + i}`,
    underlayLink: `v${name}`,
    dir,
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniBinDir: join(dir, 'cni', 'bin'),
    kubeconfig: join(dir, 'kubelet.kubeconfig'),
    cgroupRoot: nodeCgroupRoot(lab.name, name),
  };
}
