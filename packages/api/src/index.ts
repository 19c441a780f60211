export type * from './models.js';
export * from './datapath-maps.js';
export * from './agent-client.js';
