export * from './app-error.ts';
export * from './classify.ts';
export * from './codes.ts';
export * from './connect.ts';
export * from './envelope.ts';
