import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, skipWithoutKernel } from '../support/env.ts';
import { runOnVm } from './support.ts';

const fixture = (name: string): string => readFileSync(join(ROOT, 'test', 'trace', 'fixtures', name), 'utf8');

describe('trace output, byte for byte against bpftrace 0.17 (on the VM)', () => {
  for (const name of ['aggregations', 'values', 'control']) {
    it(`${name}.bt prints what bpftrace printed`, async () => {
      assert.equal(await runOnVm(fixture(`${name}.bt`)), fixture(`${name}.txt`));
    });
  }

  it('json.bt with -f json prints what bpftrace -f json printed', async () => {
    assert.equal(await runOnVm(fixture('json.bt'), 'json'), fixture('json.txt'));
  });

  it('builtins take the values of the process the VM simulates', async () => {
    const out = await runOnVm('BEGIN { printf("%d %d %d %s\\n", pid, uid, gid, comm); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n4242 1000 100 tester\n\n\n');
  });

  it('END runs after exit() and sees the maps BEGIN wrote', async () => {
    const out = await runOnVm('BEGIN { @x = 3; exit(); } END { printf("end %d\\n", @x); delete(@x); }');
    // @x, deleted, prints as an empty line at exit (bpftrace 0.17 prints 'end 3' and three newlines too).
    assert.equal(out, 'Attaching 2 probes...\nend 3\n\n\n\n');
  });

  it('interval probes fire until exit(), counting in a map', async () => {
    const out = await runOnVm('interval:ms:10 { @n++; if (@n == 3) { exit(); } }');
    assert.equal(out, 'Attaching 1 probe...\n\n\n@n: 3\n');
  });

  it('print(), clear() and zero() act in order with printf', async () => {
    const out = await runOnVm('BEGIN { @a[1] = count(); @a[2] = count(); @a[2] = count(); print(@a); zero(@a); print(@a); clear(@a); printf("cleared\\n"); @b = 1; exit(); }');
    // The map clear() emptied prints as an empty line at exit, as in bpftrace 0.17.
    assert.equal(out, 'Attaching 1 probe...\n@a[1]: 1\n@a[2]: 2\n@a[1]: 0\n@a[2]: 0\ncleared\n\n\n\n@b: 1\n');
  });

  it('strings compare, ternaries pick strings, $1 and $# come from the arguments', async () => {
    const out = await runOnVm('BEGIN { $s = comm == "tester" ? "yes" : "no"; printf("%s %s %d %d\\n", $s, str($1), $2 + 1, $#); exit(); }', 'text', { positional: ['hello', '41'] });
    assert.equal(out, 'Attaching 1 probe...\nyes hello 42 2\n\n\n');
  });

  it('for over a range, break and continue, unroll and compound assignment', async () => {
    const out = await runOnVm('BEGIN { $t = 0; for ($i : 0..10) { if ($i == 2) { continue; } if ($i == 6) { break; } $t += $i; } unroll(3) { $t *= 2; } printf("%d\\n", $t); exit(); }');
    assert.equal(out, `Attaching 1 probe...\n${(0 + 1 + 3 + 4 + 5) * 8}\n\n\n`);
  });

  it('print(@m, N) prints the N largest entries and an empty line, as bpftrace 0.17 does', async () => {
    // bpftrace 0.17's output for the same script, captured on this machine.
    const out = await runOnVm('BEGIN { @[1] = count(); @[2] = count(); @[2] = count(); @[3] = count(); @[3] = count(); @[3] = count(); print(@, 2); clear(@); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n@[2]: 2\n@[3]: 3\n\n\n\n');
  });

  it('strftime() prints the event\'s nsecs as wall-clock time', async () => {
    const before = new Date();
    const out = await runOnVm('BEGIN { printf("%s|%-6s|\\n", strftime("%H:%M:%S", nsecs), strftime("%Y", nsecs)); exit(); }');
    const m = /^Attaching 1 probe...\n(\d\d):(\d\d):(\d\d)\|(\d{4}) {2}\|\n\n\n$/.exec(out);
    assert.ok(m !== null, out);
    const printed = new Date(before);
    printed.setHours(Number(m[1]), Number(m[2]), Number(m[3]), 0);
    assert.ok(Math.abs(printed.getTime() - before.getTime()) < 5000 || Math.abs(printed.getTime() - before.getTime()) > 86_395_000, `${out} vs ${before.toTimeString()}`);
    assert.equal(Number(m[4]), before.getFullYear());
  });

  it('a # line inside a /* */ comment is comment text, not a directive', async () => {
    const out = await runOnVm('/*\n * This uses dynamic tracing and may\n # need modifications\n */\nBEGIN { printf("ok\\n"); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\nok\n\n\n');
  });

  it('the official tools\' header constants and kernel enum values (BTF) are identifiers', { skip: skipWithoutKernel() }, async () => {
    const out = await runOnVm('BEGIN { printf("%d %d %d\\n", AF_INET, TASK_RUNNING, SKB_DROP_REASON_NOT_SPECIFIED > 0); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n2 0 1\n\n\n');
  });

  it('a variable computed from a map the probe assigned just before (tcplife.bt\'s @birth)', async () => {
    const out = await runOnVm('BEGIN { if (@b == 0) { @b = 5; } $d = (@b * 2) / 1e1; printf("%d\\n", $d); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n1\n\n\n@b: 5\n');
  });

  it('strcontains() finds a literal anywhere in a string, stopping at its end', async () => {
    const out = await runOnVm('BEGIN { printf("%d %d %d %d %d\\n", strcontains("hello world", "o w"), strcontains(comm, "ster"), strcontains("hello", "low"), strcontains("ab\\0cd", "cd"), strcontains("ab", "")); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n1 1 0 0 1\n\n\n');
  });

  it('offsetof() of kernel struct fields, nested with .', { skip: skipWithoutKernel() }, async () => {
    const out = await runOnVm('BEGIN { printf("%d %d\\n", offsetof(struct sock, __sk_common.skc_family) == offsetof(struct sock_common, skc_family), offsetof(struct list_head, prev)); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n1 8\n\n\n');
  });

  it('macros: $var, @map and expression parameters, values, statements, calls without parentheses, own variables', async () => {
    const out = await runOnVm(
      'macro add_one($x) { $x + 1 }\nmacro twice(e) { e * 2 }\nmacro limit() { 7 }\nmacro bump(@m, $k) { $t = $k + limit; @m[$k] = $t; }\n' +
        'BEGIN { $a = 4; printf("%d %d %d\\n", add_one($a), twice($a + 1), limit); bump(@c, $a); $t = 100; $one = 1; bump(@c, $one); printf("%d\\n", $t); if limit > 5 { printf("big\\n"); } exit(); }',
    );
    assert.equal(out, 'Attaching 1 probe...\n5 10 7\n100\nbig\n\n\n@c[1]: 8\n@c[4]: 11\n');
  });

  it('printf integer conversions follow C varargs as bpftrace passes them', async () => {
    const out = await runOnVm('BEGIN { printf("%d|%ld|%x|%lx|%08.3d|%+d|%#o|%hhu|%c%c\\n", -1, -1, -1, -1, 42, 5, 8, 257, 72, 105); exit(); }');
    assert.equal(out, 'Attaching 1 probe...\n-1|-1|ffffffff|ffffffffffffffff|     042|+5|010|1|Hi\n\n\n');
  });
});

describe('kernel struct fields from BTF', { skip: skipWithoutKernel() }, () => {
  it('curtask->pid, a cast and a chain of pointers read the running task', async () => {
    let out = '';
    const { compileScript, runInKernel } = await import('../../src/trace/index.ts');
    await runInKernel(compileScript('BEGIN { $t = (struct task_struct *)curtask; printf("%d %s %d %d\\n", curtask->tgid, $t->comm, $t->real_parent->tgid > 0, sizeof(struct task_struct) > 1000); exit(); }'), { write: (t) => void (out += t), format: 'text' });
    assert.equal(out, `Attaching 1 probe...\n${process.pid} node 1 1\n\n\n`);
  });
});
