import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TraceRuntimeError, compileScript, runInKernel } from '../../src/trace/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';

checkNoKernelLeaks();

/** Runs `command` with `args` to completion, output discarded. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
}

/** Runs a script in the kernel while `activity` runs; the session ends when the activity is done. */
async function traceWhile(source: string, activity: () => Promise<unknown>): Promise<string> {
  let out = '';
  await runInKernel(compileScript(source, { startNs: process.hrtime.bigint() }), { write: (t) => void (out += t), format: 'text', durationMs: 30_000, startCommand: activity });
  return out;
}

const skip = skipWithoutKernel();

describe('tsbpf trace in the kernel: the seed one-liners', { skip }, () => {
  it('tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }', async () => {
    const out = await traceWhile('tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }', () => run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=2000']));
    assert.ok(out.startsWith('Attaching 1 probe...\n\n\n'), out.slice(0, 100));
    const dd = /^@\[dd\]: (\d+)$/m.exec(out);
    assert.ok(dd !== null && Number(dd[1]) >= 4000, `dd made 2000 reads and 2000 writes:\n${out.slice(-500)}`);
    const counts = [...out.matchAll(/^@\[.*\]: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'keyed maps print sorted by value');
  });

  it('tracepoint:syscalls:sys_enter_* { @[probe] = count(); } attaches every syscall with one shared program', async () => {
    const compiled = compileScript('tracepoint:syscalls:sys_enter_* { @[probe] = count(); }');
    assert.ok(compiled.probes.length > 300);
    assert.equal(Object.keys(compiled.spec.programs).length, 1);
    const out = await traceWhile('tracepoint:syscalls:sys_enter_* { @[probe] = count(); }', () => run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=3000']));
    assert.ok(out.startsWith(`Attaching ${compiled.probes.length} probes...\n`));
    const read = /^@\[tracepoint:syscalls:sys_enter_read\]: (\d+)$/m.exec(out);
    const write = /^@\[tracepoint:syscalls:sys_enter_write\]: (\d+)$/m.exec(out);
    assert.ok(read !== null && Number(read[1]) >= 3000 && write !== null && Number(write[1]) >= 3000, out.slice(-800));
  });

  it('tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }', async () => {
    const path = join(tmpdir(), `tsbpf-trace-openat-${process.pid}`);
    const out = await traceWhile('tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }', () => run('cat', [path]));
    assert.match(out, new RegExp(`^cat ${path}$`, 'm'));
  });

  it('tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = hist(args->ret); }', async () => {
    const out = await traceWhile('tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = hist(args->ret); }', () => run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=100', 'count=500']));
    assert.match(out, /\n\n\n@bytes: \n/);
    const bucket = /^\[64, 128\)\s+(\d+) \|@+\s*\|$/m.exec(out);
    assert.ok(bucket !== null && Number(bucket[1]) >= 500, out);
    assert.doesNotMatch(out, /^\(\.\.\., 0\)|^\[0\]/m, 'the predicate keeps out reads of 0 bytes and errors');
  });

  it('profile:hz:99 { @[kstack] = count(); } prints symbolised kernel stacks', async () => {
    const out = await traceWhile('profile:hz:99 { @[kstack] = count(); }', () => run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=4000']));
    assert.match(out, /^@\[\n( {4}[A-Za-z_][\w.]*\+\d+\n)+\]: \d+$/m);
  });

  const blockDevice = existsSync('/sys/block') && readdirSync('/sys/block').some((d) => !/^(loop|zram|ram)/.test(d));
  it('block I/O latency: @start[args->dev, args->sector] = nsecs, hist of the difference', { skip: blockDevice ? false : 'no block device' }, async () => {
    const file = join(tmpdir(), `tsbpf-trace-bio-${process.pid}`);
    try {
      const out = await traceWhile(
        'tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; } tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); delete(@start[args->dev, args->sector]); }',
        () => run('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k', 'count=32', 'oflag=direct']),
      );
      assert.match(out, /^@usecs: \n(\[\d+[KM]?, \d+[KM]?\)|\[\d\])\s+\d+ \|@*\s*\|\n/m);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('exec tracing: tracepoint:syscalls:sys_enter_execve { join(args->argv); }', async () => {
    const out = await traceWhile('tracepoint:syscalls:sys_enter_execve { join(args->argv); }', () => run('/bin/echo', ['tsbpf-join', 'one', 'two']));
    assert.match(out, /^\/bin\/echo tsbpf-join one two$/m);
  });

  it('TCP connect tracing with sock:inet_sock_set_state', async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const out = await traceWhile('tracepoint:sock:inet_sock_set_state /args->newstate == 2/ { printf("%s %s:%d -> %s:%d\\n", comm, ntop(args->saddr), args->sport, ntop(args->daddr), args->dport); }', async () => {
        await new Promise<void>((resolve, reject) => connect(port, '127.0.0.1').on('connect', function (this: ReturnType<typeof connect>) {
          this.end();
          resolve();
        }).on('error', reject));
      });
      assert.match(out, new RegExp(`^\\S+ 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}$`, 'm'));
    } finally {
      server.close();
    }
  });

  it('bash commands through uretprobe:/bin/bash:readline', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) for a terminal' }, async () => {
    const out = await traceWhile('uretprobe:/bin/bash:readline { printf("%-6d %s\\n", pid, str(retval)); }', () =>
      run('/bin/sh', ['-c', "(sleep 0.3; printf 'echo tsbpf-readline\\n'; sleep 0.3; printf 'exit\\n'; sleep 0.3) | script -qfc 'bash --norc -i' /dev/null > /dev/null"]),
    );
    assert.match(out, /^\d+ +echo tsbpf-readline$/m);
  });

  it('software:cs:1 and software:cpu-migrations count their events; hardware: names the missing PMU', async () => {
    const out = await traceWhile('software:cs:1 { @cs = count(); } software:page-faults:1 { @faults[comm] = count(); }', () => run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=50']));
    assert.match(out, /^@cs: [1-9]\d*$/m);
    assert.match(out, /^@faults\[dd\]: [1-9]\d*$/m);
    if (!existsSync('/sys/bus/event_source/devices/cpu')) {
      await assert.rejects(
        runInKernel(compileScript('hardware:cycles:1000000 { @ = count(); }'), { write: () => {}, format: 'text' }),
        (error: unknown) => error instanceof TraceRuntimeError && /^hardware:cycles:1000000: cannot attach: this machine has no hardware performance counters/.test(error.message),
      );
    }
  });

  it('usdt: python3\'s function__entry (semaphore-guarded) with its arguments read from registers', async () => {
    // CPython 3.11 inlines Python-to-Python calls and fires function__entry for them only while its line probe is enabled too.
    const script = 'usdt:/usr/bin/python3:python:function__entry /str(arg1) == "tsbpf_usdt_probe"/ { printf("%s line %d\\n", str(arg1), arg2); } usdt:/usr/bin/python3:python:line { @lines = count(); }';
    const out = await traceWhile(script, () => run('/usr/bin/python3', ['-c', 'def tsbpf_usdt_probe(x):\n    pass\nlist(map(tsbpf_usdt_probe, [1, 2]))']));
    assert.equal(out.match(/^tsbpf_usdt_probe line 1$/gm)?.length, 2, out);
  });

  it('kprobe scripts compile; attaching names the tracepoint to use instead', async () => {
    const compiled = compileScript('kprobe:tcp_connect { @ = count(); }');
    await assert.rejects(
      runInKernel(compiled, { write: () => {}, format: 'text' }),
      (error: unknown) => error instanceof TraceRuntimeError && /kprobe:tcp_connect: kprobes are not available on this kernel .*use tracepoint:sock:inet_sock_set_state instead/.test(error.message),
    );
  });
});
