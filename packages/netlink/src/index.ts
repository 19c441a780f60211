export { Netlink, type NetlinkOpenOptions } from './netlink.js';
export type {
  Address, AddressOptions, Link, Neighbour, NeighbourSpec, Route, RouteFilter, RouteEncap, RouteProtocol, RouteSpec, Scope, VethSpec, VxlanSpec,
} from './types.js';
export { NetlinkError, errnoName, type NetlinkLocalCode } from './netlink-error.js';
export { openNetns, closeNetns, withNetns, netnsInode, THREAD_NETNS_PATH } from './netns.js';
export { createNetns, deleteNetns, listNetns, netnsPath, NETNS_RUN_DIR } from './named-netns.js';
export { sysctlInNetns, sysctlPath } from './sysctl.js';
export { parseMac, formatMac, randomMac } from './mac.js';
export { parseIp, parseCidr, formatIp, type IpFamily, type ParsedIp, type ParsedCidr } from './ip-address.js';
