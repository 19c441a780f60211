/** The cilium-ts release these binaries belong to, and the Cilium release whose interfaces they follow. */
export const CILIUM_TS_VERSION = '0.1.0';
export const CILIUM_COMPAT_VERSION = '1.16.0';
