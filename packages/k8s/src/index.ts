export * from './types.js';
export * from './resources.js';
export * from './client.js';
export * from './informer.js';
export * from './leader-elector.js';
export * from './crd-schemas.js';
export * from './crd-files.js';
export * from './crd-validator.js';
