/**
 * `tsbpf audit`: container exec auditing (examples/audit/exec_audit.c):
 * every exec in the system with full argv, pid, parent, uid, cgroup path
 * and container id, matched against a rule file; alerts are printed as
 * JSON lines and counted per rule. Rules are reloaded on SIGHUP.
 */
import { loadCollectionSpec } from '../../object/index.ts';
import { AUDIT_SOURCE, CgroupPaths, cgroup2Mount, decodeExecEvent, ExecAuditor, execFields, loadAuditRules } from '../../tools/audit/index.ts';
import { buildBpfObject, exampleSource } from '../../tools/usecase-support/index.ts';
import { type CliCommand, type CliIo, UsageError, parseArguments, unexpectedArgument } from '../command.ts';

const usage = `usage: tsbpf audit --rules FILE [--cgroup PATH] [--all] [--duration SEC] [--object FILE.o]

Reports commands run on this machine, and inside containers, that match the
rules of FILE (YAML or JSON; see docs/use-cases.md): one JSON object per
alert on stdout, with the full argv, pid, ppid, uid, the cgroup path and the
container id (docker, containerd, cri-o, podman, Kubernetes pods). On exit
(Ctrl-C, SIGTERM or --duration) a last line gives the counts per rule.
Rules are reloaded on SIGHUP. Needs root.

  --cgroup PATH   only execs in this cgroup or below it (a path under the
                  cgroup v2 mount, e.g. /system.slice, or the full path)
  --all           print every exec, with the rules it matched ("rules": [])
  --duration SEC  stop after SEC seconds
  --object FILE.o the compiled program (default: examples/${AUDIT_SOURCE},
                  built with clang on first use into .cache/)
`;

interface Options {
  rules: string;
  cgroup?: string;
  all: boolean;
  durationMs?: number;
  object?: string;
}

function parse(args: string[]): Options {
  const options: Partial<Options> & { all: boolean } = { all: false };
  const positional = parseArguments(args, (arg, value) => {
    if (arg === '--rules') options.rules = value();
    else if (arg === '--cgroup') options.cgroup = value();
    else if (arg === '--all') options.all = true;
    else if (arg === '--duration') {
      const text = value();
      const seconds = Number(text);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--duration needs a number of seconds, got '${text}'`);
      options.durationMs = Math.round(seconds * 1000);
    } else if (arg === '--object') options.object = value();
    else return false;
    return true;
  });
  if (positional.length > 0) throw unexpectedArgument(positional[0]!);
  if (options.rules === undefined) throw new UsageError('--rules FILE is required');
  return options as Options;
}

/** The cgroup filter as a path under the cgroup2 mount ("/a.slice"). */
function cgroupFilter(path: string, mount: string | undefined): string {
  const relative = mount !== undefined && path.startsWith(`${mount}/`) ? path.slice(mount.length) : path;
  if (!relative.startsWith('/')) throw new UsageError(`--cgroup needs an absolute path, got '${path}'`);
  return relative.replace(/\/+$/, '') || '/';
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parse(args);
  const { loadCollection } = await import('../../kernel/index.ts');
  const mount = cgroup2Mount();
  const filter = options.cgroup === undefined ? undefined : cgroupFilter(options.cgroup, mount);
  const auditor = new ExecAuditor(loadAuditRules(options.rules), new CgroupPaths(mount));
  const collection = loadCollection(loadCollectionSpec(options.object ?? buildBpfObject(exampleSource(AUDIT_SOURCE))));
  const reader = collection.ringBuffer('events');
  const handle = (record: Uint8Array): void => {
    const context = auditor.context(decodeExecEvent(record));
    if (filter !== undefined && !ExecAuditor.inCgroup(context, filter)) return;
    const alerts = auditor.check(context);
    if (options.all) io.stdout(`${JSON.stringify({ time: new Date().toISOString(), rules: alerts.map((a) => a.rule), ...execFields(context, auditor.userNames) })}\n`);
    else for (const alert of alerts) io.stdout(`${JSON.stringify(alert)}\n`);
  };
  let links: { close(): void } | undefined;
  const stop = new AbortController();
  const onStop = (): void => {
    if (stop.signal.aborted) return;
    // Detach first, then report what is already in the ring, then end the reader.
    links?.close();
    links = undefined;
    reader.poll(handle);
    stop.abort();
  };
  const onHangup = (): void => {
    try {
      auditor.setRules(loadAuditRules(options.rules));
      io.stderr(`tsbpf audit: reloaded ${auditor.rules.length} rules from ${options.rules}\n`);
    } catch (err) {
      io.stderr(`tsbpf audit: not reloaded: ${(err as Error).message}\n`);
    }
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGHUP', onHangup);
  const timer = options.durationMs === undefined ? undefined : setTimeout(onStop, options.durationMs);
  try {
    links = collection.attach();
    io.stderr(`tsbpf audit: watching execs with ${auditor.rules.length} rules from ${options.rules}${filter ? ` in ${filter}` : ''}${mount ? '' : ' (no cgroup v2 mount: no cgroup paths)'}\n`);
    await reader.consume(handle, { signal: stop.signal });
    const lost = (collection.map('lost').lookupPerCpu(new Uint8Array(4)) ?? []).reduce((sum, v) => sum + Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)), 0);
    io.stdout(`${JSON.stringify({ summary: { events: auditor.events, alerts: Object.fromEntries(auditor.alerts), lost } })}\n`);
    return 0;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    process.off('SIGHUP', onHangup);
    links?.close();
    reader.close();
    collection.close();
  }
}

export const command: CliCommand = { name: 'audit', summary: 'container exec auditing: execs with argv, user, cgroup and container id matched against rules, as JSON lines', usage, run };
