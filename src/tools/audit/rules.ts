/**
 * Audit rules (YAML or JSON), in the spirit of Falco's rules for spawned
 * processes, each matching when all its conditions hold:
 *
 *   rules:
 *     - name: shell in a container
 *       command: [sh, bash, dash, zsh]   # executable's base name (globs)
 *       container_only: true            # only in a container's cgroup
 *       priority: warning               # Falco's priorities; default warning
 *     - name: reading shadow passwords
 *       args: ["/etc/shadow*"]          # each pattern matches some argument
 *     - name: netcat listening
 *       command: "nc*"
 *       args: ["/^-[a-z]*l/"]           # /.../ is a regular expression
 *       user: [root, 1000]              # user names or uids
 *
 * Every problem is a ConfigFileError naming the file, line and key.
 */
import { readFileSync } from 'node:fs';
import { type ConfigNode, parseConfigText, readConfigFile } from '../usecase-support/index.ts';

export const PRIORITIES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface Pattern {
  /** As written. */
  source: string;
  test(text: string): boolean;
}

export interface AuditRule {
  name: string;
  description?: string;
  priority: Priority;
  /** Any of these matches the executable's base name; empty: any command. */
  command: Pattern[];
  /** Each must match at least one argument (argv[1...]). */
  args: Pattern[];
  containerOnly: boolean;
  /** Any of these uids; empty: any user. */
  uids: number[];
}

const MAX_PATTERN_LENGTH = 1024;

/** A shell glob (*, ?, [...]) as an anchored regular expression; `*` crosses '/' too (arguments are not paths only). */
export function globToRegExp(glob: string): RegExp | string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) return `unclosed '[' at character ${i + 1}`;
      let set = glob.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      out += `[${set.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

function pattern(node: ConfigNode): Pattern {
  const source = node.string();
  if (source.length > MAX_PATTERN_LENGTH) throw node.error(`patterns are at most ${MAX_PATTERN_LENGTH} characters`);
  const regex = /^\/(.*)\/([imsu]*)$/s.exec(source);
  let compiled: RegExp | string;
  if (regex) {
    try {
      compiled = new RegExp(regex[1]!, regex[2]);
    } catch (err) {
      throw node.error(`bad regular expression: ${(err as Error).message}`);
    }
  } else compiled = globToRegExp(source);
  if (typeof compiled === 'string') throw node.error(`bad glob '${source}': ${compiled}`);
  const re = compiled;
  return { source, test: (text) => re.test(text) };
}

/** User names and their uids from /etc/passwd (empty when there is none). */
export function passwdUids(passwd: string): Map<string, number> {
  const users = new Map<string, number>();
  try {
    for (const line of readFileSync(passwd, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 3 && /^\d+$/.test(fields[2]!)) users.set(fields[0]!, Number(fields[2]));
    }
  } catch {
    // No passwd file: only numeric uids can be used.
  }
  return users;
}

function rule(node: ConfigNode, users: Map<string, number>): AuditRule {
  const keys = node.object(['name', 'description', 'priority', 'command', 'args', 'container_only', 'user'], ['name']);
  const priorityNode = keys.get('priority');
  const priorityText = priorityNode?.string().toLowerCase() ?? 'warning';
  if (!(PRIORITIES as readonly string[]).includes(priorityText)) throw priorityNode!.error(`unknown priority '${priorityText}' (one of ${PRIORITIES.join(', ')})`);
  const uids = (keys.get('user')?.listOrOne() ?? []).map((user) => {
    const number = user.describe();
    if (/^\d+$/.test(number)) return user.number({ min: 0, max: 0xffffffff, integer: true });
    const name = user.string();
    if (/^\d+$/.test(name)) return Number(name);
    const uid = users.get(name);
    if (uid === undefined) throw user.error(`no user '${name}' in /etc/passwd`);
    return uid;
  });
  const result: AuditRule = {
    name: keys.get('name')!.string(),
    priority: priorityText as Priority,
    command: (keys.get('command')?.listOrOne() ?? []).map(pattern),
    args: (keys.get('args')?.list() ?? []).map(pattern),
    containerOnly: keys.get('container_only')?.boolean() ?? false,
    uids,
  };
  const description = keys.get('description');
  if (description) result.description = description.string();
  if (result.command.length === 0 && result.args.length === 0 && !result.containerOnly && uids.length === 0) {
    throw node.error(`rule '${result.name}' has no condition (command, args, container_only or user): it would match every exec`);
  }
  return result;
}

export function auditRulesFrom(root: ConfigNode, passwd = '/etc/passwd'): AuditRule[] {
  const list = root.object(['rules'], ['rules']).get('rules')!.list();
  const users = passwdUids(passwd);
  const rules = list.map((node) => rule(node, users));
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.name)) throw list[i]!.error(`rule name '${r.name}' is used twice`);
    seen.add(r.name);
  });
  return rules;
}

export function loadAuditRules(path: string, passwd?: string): AuditRule[] {
  return auditRulesFrom(readConfigFile(path), passwd);
}

export function parseAuditRules(text: string, file = '<rules>', passwd?: string): AuditRule[] {
  return auditRulesFrom(parseConfigText(text, file), passwd);
}
