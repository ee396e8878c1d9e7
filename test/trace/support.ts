import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type CompileOptions, TraceError, compileScript, runInVm } from '../../src/trace/index.ts';
import type { TracepointFormat } from '../../src/vm/index.ts';
import { parseTracepointFormat } from '../../src/vm/index.ts';

/** A tracefs format for tests that must not depend on the machine's tracefs. */
export const OPENAT_FORMAT: TracepointFormat = parseTracepointFormat(`name: sys_enter_openat
ID: 700
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;

print fmt: "dfd: 0x%08lx", ((unsigned long)(REC->dfd))
`);

/** Compiles without tracefs: every tracepoint has the openat format. */
export function compileOffline(source: string, options: CompileOptions = {}): ReturnType<typeof compileScript> {
  return compileScript(source, { readFormat: () => OPENAT_FORMAT, ...options });
}

/** The error (as bpftrace prints it) that compiling `source` offline gives; fails when it compiles. */
export function compileError(source: string, options: CompileOptions = {}): string {
  try {
    compileOffline(source, options);
  } catch (error) {
    if (error instanceof TraceError) return error.format();
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(source)}`);
}

/** Runs a BEGIN/END/interval script on the VM and returns its whole output. */
export async function runOnVm(source: string, format: 'text' | 'json' = 'text', options: CompileOptions = {}): Promise<string> {
  let out = '';
  await runInVm(compileScript(source, options), { write: (t) => void (out += t), format, durationMs: 2000, event: { process: { pid: 4242, uid: 1000, gid: 100, comm: 'tester' } } });
  return out;
}

/** Scripts the kernel tests run (the seed one-liners and the CLI's), for the verifier corpus. */
export const TEST_SCRIPTS: readonly string[] = [
  'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }',
  'tracepoint:syscalls:sys_enter_* { @[probe] = count(); }',
  'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }',
  'tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = hist(args->ret); }',
  'profile:hz:99 { @[kstack] = count(); }',
  'tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; } tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); delete(@start[args->dev, args->sector]); }',
  'tracepoint:syscalls:sys_enter_execve { join(args->argv); }',
  'tracepoint:sock:inet_sock_set_state /args->newstate == 2/ { printf("%s %s:%d -> %s:%d\\n", comm, ntop(args->saddr), args->sport, ntop(args->daddr), args->dport); }',
  'uretprobe:/bin/bash:readline { printf("%-6d %s\\n", pid, str(retval)); }',
  'kprobe:tcp_connect { @ = count(); }',
  'BEGIN { printf("hello %s\\n", str($1)); @n = $1; exit(); }',
  'tracepoint:syscalls:sys_enter_execve /comm == "sh"/ { join(args->argv); }',
  'software:cs:1 { @cs = count(); } software:page-faults:1 { @faults[comm] = count(); }',
  'usdt:/usr/bin/python3:python:function__entry /str(arg1) == "tsbpf_usdt_probe"/ { printf("%s line %d\\n", str(arg1), arg2); } usdt:/usr/bin/python3:python:line { @lines = count(); }',
  'tracepoint:syscalls:sys_enter_openat /strcontains(str(args->filename), "hostname")/ { printf("%s %s\\n", strftime("%H:%M:%S", nsecs), str(args->filename)); }',
  'tracepoint:syscalls:sys_enter_getppid { @calls[comm] = count(); @cpu[cpu] = count(); } interval:ms:100 { $t = 0; for ($kv : @cpu) { $t += $kv.1; if ($t > 100) { break; } } for ($kv : @calls) { for ($i : 0..$kv.1) { if ($i > 3) { return; } printf("%s %d %d\\n", $kv.0, $i, len(@calls)); } } }',
  'tracepoint:syscalls:sys_enter_write { printf("%r %s %s\\n", buf(args->buf, args->count), cgroup_path(cgroup), strerror(2)); @[ppid, pcomm] = count(); }',
];

/** The tools of Debian's bpftrace package (/usr/sbin/*.bt) as [name, path]; CI installs the package. */
export function debianTools(): [string, string][] {
  const dir = '/usr/sbin';
  if (!existsSync('/usr/bin/bpftrace')) {
    if (process.env.CI === 'true') throw new Error('CI=true but bpftrace is not installed (apt-get install bpftrace)');
    return [];
  }
  return readdirSync(dir).filter((f) => f.endsWith('.bt')).sort().map((f) => [f, join(dir, f)]);
}
