/** L4 load balancing (examples/lb): Maglev tables, the flow hash, configuration and map management of xdp_lb. */
export * from './maglev.ts';
export * from './flow.ts';
export * from './config.ts';
export * from './balancer.ts';
