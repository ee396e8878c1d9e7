/**
 * Matches exec events against audit rules: each event gets its cgroup path
 * and container, and every rule it satisfies gives an alert, printed as a
 * JSON line (Falco's output fields, flattened) and counted per rule.
 */
import { type AuditRule, passwdUids, type Priority } from './rules.ts';
import { type CgroupPaths, type Container, containerOf } from './cgroups.ts';
import type { ExecEvent } from './events.ts';

export interface ExecContext extends ExecEvent {
  /** Path under the cgroup2 mount, or undefined when the cgroup is gone. */
  cgroup: string | undefined;
  container: Container | undefined;
}

/** What an alert says about the exec (JSON names, as Falco's output fields flattened). */
export interface ExecFields {
  pid: number;
  ppid: number;
  uid: number;
  /** The uid's name in /etc/passwd (null when it has none). */
  user: string | null;
  comm: string;
  filename: string;
  argv: string[];
  args_truncated: boolean;
  cgroup_id: string;
  cgroup: string | null;
  container_id: string | null;
  container_runtime: string | null;
  pod_uid: string | null;
}

export interface Alert extends ExecFields {
  time: string;
  rule: string;
  priority: Priority;
}

export function execFields(context: ExecContext, userNames: ReadonlyMap<number, string> = new Map()): ExecFields {
  return {
    pid: context.pid,
    ppid: context.ppid,
    uid: context.uid,
    user: userNames.get(context.uid) ?? null,
    comm: context.comm,
    filename: context.filename,
    argv: context.argv,
    args_truncated: context.argsTruncated,
    cgroup_id: String(context.cgroupId),
    cgroup: context.cgroup ?? null,
    container_id: context.container?.id ?? null,
    container_runtime: context.container?.runtime ?? null,
    pod_uid: context.container?.pod ?? null,
  };
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

export function ruleMatches(rule: AuditRule, event: ExecContext): boolean {
  if (rule.containerOnly && event.container === undefined) return false;
  if (rule.uids.length > 0 && !rule.uids.includes(event.uid)) return false;
  const command = baseName(event.filename);
  if (rule.command.length > 0 && !rule.command.some((p) => p.test(command))) return false;
  const args = event.argv.slice(1);
  return rule.args.every((p) => args.some((a) => p.test(a)));
}

export class ExecAuditor {
  /** Events seen, and alerts per rule name. */
  events = 0;
  readonly alerts = new Map<string, number>();

  /** uid → user name, for the alerts' `user` field. */
  readonly userNames: ReadonlyMap<number, string>;

  constructor(
    public rules: AuditRule[],
    readonly cgroups: CgroupPaths,
    passwd = '/etc/passwd',
  ) {
    const names = new Map<number, string>();
    // The first name listed for a uid is its name, as getpwuid() answers.
    for (const [name, uid] of passwdUids(passwd)) if (!names.has(uid)) names.set(uid, name);
    this.userNames = names;
    for (const rule of rules) this.alerts.set(rule.name, 0);
  }

  /** Replaces the rules (a reload), keeping the counts of rules that remain. */
  setRules(rules: AuditRule[]): void {
    this.rules = rules;
    for (const rule of rules) if (!this.alerts.has(rule.name)) this.alerts.set(rule.name, 0);
  }

  /** The event with its cgroup path and container. */
  context(event: ExecEvent): ExecContext {
    const cgroup = this.cgroups.pathOf(event.cgroupId, event.pid);
    return { ...event, cgroup, container: cgroup === undefined ? undefined : containerOf(cgroup) };
  }

  /** Whether the exec happened in cgroup `filter` (a path under the cgroup2 mount) or below it. */
  static inCgroup(context: ExecContext, filter: string): boolean {
    return filter === '/' || context.cgroup === filter || context.cgroup?.startsWith(`${filter}/`) === true;
  }

  /** The alerts `event` raises (none, or one per matching rule). */
  check(context: ExecContext, now = new Date()): Alert[] {
    this.events++;
    const alerts: Alert[] = [];
    for (const rule of this.rules) {
      if (!ruleMatches(rule, context)) continue;
      this.alerts.set(rule.name, (this.alerts.get(rule.name) ?? 0) + 1);
      alerts.push({ time: now.toISOString(), rule: rule.name, priority: rule.priority, ...execFields(context, this.userNames) });
    }
    return alerts;
  }
}

export const AUDIT_SOURCE = 'audit/exec_audit.c';
