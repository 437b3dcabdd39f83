export * from './database.ts';
export * from './keys.ts';
export * from './nats.ts';
export * from './nats-server.ts';
export * from './ports.ts';
export * from './prometheus.ts';
export * from './roles.ts';
export * from './stack.ts';
