import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnTsbpf } from '../support/cli.ts';
import { ROOT, skipWithoutKernel } from '../support/env.ts';

describe('tsbpf trace CLI', () => {
  it('a compile error prints bpftrace\'s message with the caret line and exits 1', async () => {
    const r = await spawnTsbpf(['trace', '-e', 'BEGIN { foo(1); }']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'stdin:1:9-12: ERROR: Unknown function: foo\nBEGIN { foo(1); }\n        ~~~\n');
  });

  it('-d prints the generated eBPF without loading it', async () => {
    const r = await spawnTsbpf(['trace', '-d', '-e', 'tracepoint:syscalls:sys_enter_* { @[probe] = count(); }']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^probe_0 \(\d{3} probes: tracepoint:syscalls:sys_enter_/);
    assert.match(r.stdout, /call/);
    assert.equal(r.stdout.match(/^probe_\d+ /gm)?.length, 1, 'one program shared by every syscall probe');
  });

  it('-l lists tracepoints matching a wildcard, -lv with their fields', async () => {
    const r = await spawnTsbpf(['trace', '-l', 'tracepoint:syscalls:sys_enter_openat*']);
    assert.equal(r.stdout, 'tracepoint:syscalls:sys_enter_openat\ntracepoint:syscalls:sys_enter_openat2\n');
    const v = await spawnTsbpf(['trace', '-lv', 'tracepoint:syscalls:sys_enter_openat']);
    assert.match(v.stdout, /^tracepoint:syscalls:sys_enter_openat\n {4}int __syscall_nr\n {4}int dfd\n {4}const char \* filename\n/);
  });

  it('a usage error exits 2', async () => {
    const r = await spawnTsbpf(['trace', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--bogus'/);
  });

  it('runs a script file with a #! line, options after it, $1 and -o FILE', { skip: skipWithoutKernel() }, async () => {
    const dir = tmpdir();
    const script = join(dir, `tsbpf-trace-${process.pid}.bt`);
    const output = join(dir, `tsbpf-trace-${process.pid}.out`);
    await import('node:fs').then((fs) => fs.writeFileSync(script, '#!/usr/bin/env bpftrace\nBEGIN { printf("hello %s\\n", str($1)); @n = $2; exit(); }\n'));
    try {
      const r = await spawnTsbpf(['trace', script, '-o', output, 'world', '7']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(output, 'utf8'), 'Attaching 1 probe...\nhello world\n\n\n@n: 7\n');
    } finally {
      rmSync(script, { force: true });
      rmSync(output, { force: true });
    }
  });

  it('-c runs the command after attaching and stops when it exits', { skip: skipWithoutKernel() }, async () => {
    const r = await spawnTsbpf(['trace', '-e', 'tracepoint:syscalls:sys_enter_execve /comm == "sh"/ { join(args->argv); }', '-c', '/bin/echo traced-by-tsbpf']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Attaching 1 probe...\n/);
    assert.match(r.stdout, /^\/bin\/echo traced-by-tsbpf$/m);
  });

  it('-v prints each program\'s id and verifier statistics after Attaching, as bpftrace does, with tsbpf\'s verifier\'s', { skip: skipWithoutKernel() }, async () => {
    const r = await spawnTsbpf(['trace', '-v', '-e', 'BEGIN { printf("hi\\n"); exit(); }']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Attaching 1 probe...\n\nProgram ID: \d+\n\nThe verifier log: \nprocessed \d+ insns \(limit 1000000\) max_states_per_insn \d+ total_states \d+ peak_states \d+ mark_read \d+\ntsbpf's verifier: processed \d+ insns max_states_per_insn \d+ total_states \d+ peak_states \d+\nhi\n/);
  });

  it('Ctrl-C (SIGINT) prints the maps as bpftrace does and exits 0', { skip: skipWithoutKernel() }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'trace', '-e', 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    const attached = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('Attaching 1 probe...\n')) resolve();
      });
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await attached;
      child.kill('SIGINT');
      assert.equal(await closed, 0, stderr);
    } finally {
      child.kill('SIGKILL');
    }
    // At least this process's own syscalls were counted, printed after a blank line as `@[comm]: N`.
    assert.match(stdout, /^Attaching 1 probe\.\.\.\n\n\n(@\[.+\]: \d+\n)+$/);
  });
});

