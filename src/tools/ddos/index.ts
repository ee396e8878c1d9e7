/** XDP DDoS mitigation (examples/ddos): configuration, map updates and counters of xdp_guard. */
export * from './config.ts';
export * from './guard.ts';
export * from './replay.ts';
