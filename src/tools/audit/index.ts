/** Container exec auditing (examples/audit): exec events, cgroup paths and container ids, rules and alerts. */
export * from './events.ts';
export * from './cgroups.ts';
export * from './rules.ts';
export * from './auditor.ts';
