// The OCI data model and the pure functions over it, for modules that want one import.
export type * from './types.ts';
export * from './mediatypes.ts';
export * from './digest.ts';
export * from './platform.ts';
export * from './validate.ts';
