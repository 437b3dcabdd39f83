export * from './permissions.ts';
export * from './internal-token.ts';
export * from './keys.ts';
export * from './key-set.ts';
export * from './callers.ts';
export * from './connect.ts';
