/**
 * The rest of bpftrace's language and its current dialect: for over maps
 * and ranges, buf, uaddr, cgroup_path, len, strerror, syscall_name,
 * ppid/pcomm, getopt, map declarations, tuple keys, delete() as a bool.
 * BEGIN/END scripts run on the VM; the kernel tests make their own
 * activity, and the constructs bpftrace 0.17 has are compared with it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MapType } from '../../src/uapi/index.ts';
import { compileScript, runInKernel } from '../../src/trace/index.ts';
import { skipWithoutCommand, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { compileError, compileOffline, runOnVm } from './support.ts';

/** The output of a BEGIN script on the VM, without the attach line and the trailing newlines. */
async function printed(source: string, options: Parameters<typeof runOnVm>[2] = {}): Promise<string> {
  const out = await runOnVm(source, 'text', options);
  assert.ok(out.startsWith('Attaching '), out);
  return out.slice(out.indexOf('\n') + 1);
}


describe('for loops (on the VM)', () => {
  it('for ($kv : @map) sees each (key, value); continue skips one, the body adds to a probe variable', async () => {
    const out = await printed('BEGIN { @a[1] = 10; @a[2] = 20; @a[3] = 30; $t = 0; for ($kv : @a) { if ($kv.0 == 2) { continue; } $t += $kv.1; } printf("t=%d\\n", $t); clear(@a); exit(); }');
    assert.equal(out, 't=40\n\n\n\n');
  });

  it('several keys make a nested tuple ((k1, k2), value), printed as bpftrace prints tuples', async () => {
    const out = await printed('BEGIN { @m[1, "one"] = "uno"; for ($kv : @m) { printf("%d %s %s\\n", $kv.0.0, $kv.0.1, $kv.1); print($kv); } exit(); }');
    assert.equal(out, '1 one uno\n((1, one), uno)\n\n\n@m[1, one]: uno\n');
  });

  it('per-CPU aggregations are combined over the CPUs: count, sum, min, max, avg', async () => {
    const out = await printed(
      'BEGIN { @c[1] = count(); @c[1] = count(); @s[1] = sum(5); @s[1] = sum(-2); @lo[1] = min(3); @lo[1] = min(-4); @hi[1] = max(9); @av[1] = avg(2); @av[1] = avg(5); ' +
        'for ($kv : @c) { printf("count %d\\n", $kv.1); } for ($kv : @s) { printf("sum %d\\n", $kv.1); } for ($kv : @lo) { printf("min %d\\n", $kv.1); } ' +
        'for ($kv : @hi) { printf("max %d\\n", $kv.1); } for ($kv : @av) { printf("avg %d\\n", $kv.1); } clear(@c); clear(@s); clear(@lo); clear(@hi); clear(@av); exit(); }',
    );
    assert.equal(out, 'count 2\nsum 3\nmin -4\nmax 9\navg 3\n\n\n\n\n\n\n\n');
  });

  it('break stops after one element; len() counts the elements', async () => {
    const out = await printed('BEGIN { @a[1] = 1; @a[2] = 2; @a[3] = 3; for ($kv : @a) { @n++; break; } printf("len %d\\n", len(@a)); clear(@a); exit(); }');
    assert.equal(out, 'len 3\n\n\n\n@n: 1\n');
  });

  it('return inside a loop ends the probe; exit() inside a loop ends the script', async () => {
    assert.equal(await printed('BEGIN { @a[7] = 1; for ($kv : @a) { printf("in\\n"); return; } printf("not reached\\n"); } END { printf("end\\n"); clear(@a); }'), 'in\nend\n\n\n\n');
    assert.equal(await printed('BEGIN { for ($i : 0..5) { if ($i == 2) { exit(); } printf("%d\\n", $i); } printf("not reached\\n"); }'), '0\n1\n\n\n');
  });

  it('for ($i : a..b): the bounds are evaluated once, an empty or reversed range runs nothing, negative starts count up', async () => {
    const out = await printed('BEGIN { $n = 4; $sum = 0; for ($i : 0..$n) { $sum += $i; $n--; } printf("%d %d\\n", $sum, $n); for ($i : 5..5) { printf("empty\\n"); } for ($i : 3..1) { printf("reversed\\n"); } for ($i : -2..1) { printf("%d ", $i); } printf("\\n"); exit(); }');
    assert.equal(out, '6 0\n-2 -1 0 \n\n\n');
  });

  it('nested loops read the enclosing loop\'s variable; the body assigns strings and maps', async () => {
    const out = await printed('BEGIN { $s = "x"; @a[1] = 2; for ($kv : @a) { for ($i : 0..2) { for ($j : 0..2) { printf("%d%d%d ", $kv.0, $i, $j); } } $s = "changed"; @b[$kv.0] = $kv.1 * 10; } printf("%s\\n", $s); clear(@a); exit(); }');
    assert.equal(out, '100 101 110 111 changed\n\n\n\n@b[1]: 20\n');
  });

  it('programs with loops carry BTF func_info naming each callback (static) and the probe (global)', () => {
    const compiled = compileOffline('BEGIN { @a[1] = 1; for ($kv : @a) { } for ($i : 0..3) { } printf("%d\\n", len(@a)); }');
    const program = Object.values(compiled.spec.programs)[0]!;
    assert.deepEqual(program.functions.map((f) => f.name), ['probe_0', 'map_for_each_cb_0', 'loop_cb_1', 'count_elements_cb']);
    const btf = compiled.spec.btf!;
    assert.deepEqual(program.funcInfo.map((f) => [f.insnIndex, btf.types[f.typeId]!.kind, (btf.types[f.typeId] as { linkage: string }).linkage]), program.functions.map((f, i) => [f.insnIndex, 'func', i === 0 ? 'global' : 'static']));
    assert.equal(compileOffline('BEGIN { printf("no loop\\n"); }').spec.btf, undefined);
  });
});

describe('the current dialect (on the VM)', () => {
  it('@m[$t] with a tuple $t is the element @m[a, b]; has_key and delete take the tuple; delete() is a bool', async () => {
    const out = await printed('BEGIN { @m[1, 2] = 3; $k = (1, 2); @m[$k] += 1; printf("%d %d %d %d %d\\n", @m[$k], has_key(@m, (1, 2)), delete(@m, $k), delete(@m, (1, 2)), len(@m)); @x[1, "a"] = (2, "b"); exit(); }');
    assert.equal(out, '4 1 1 0 0\n\n\n\n@x[1, a]: (2, b)\n');
  });

  it('getopt(): defaults, -- --name=value arguments, a bare --flag, typed by the default', async () => {
    const script = 'BEGIN { printf("%d %d %s %d\\n", getopt("depth", 35, "Maximum depth"), getopt("errname"), getopt("name", "none"), getopt("on", true)); exit(); }';
    assert.equal(await printed(script), '35 0 none 1\n\n\n');
    assert.equal(await printed(script, { namedArgs: { depth: '5', errname: '', name: 'tsbpf', on: 'false' } }), '5 1 tsbpf 0\n\n\n');
  });

  it('strerror(), syscall_name(), string indexing, let $x; typed by its first assignment', async () => {
    const out = await printed('BEGIN { let $a; $a = "text"; printf("%s|%s|%s|%s|%c%d\\n", strerror(2), strerror(0), syscall_name(39), syscall_name(100000), $a[1], "/"[0]); exit(); }');
    assert.equal(out, 'No such file or directory|Success|getpid|100000|e47\n\n\n');
  });

  it('buf() prints with %r (\\xNN for non-printable bytes), %rx, %rh and as a map key', async () => {
    const out = await printed('BEGIN { printf("%r|%rx|%rh|%r\\n", buf("a\\tb", 4), buf("AB", 2), buf("AB", 2), buf("xyz", 2)); @[buf("k\\n", 2)] = 1; exit(); }');
    assert.equal(out, 'a\\x09b\\x00|\\x41\\x42|41 42|xy\n\n\n@[k\\x0a]: 1\n');
  });

  it('let @m = lruhash(N) and friends choose the kernel map type and size', () => {
    const compiled = compileOffline('let @a = lruhash(100); let @b = percpulruhash(20); let @c = hash(7); BEGIN { @a[1] = 1; @b[1] = count(); @c = 2; @d[1] = count(); }');
    const maps = compiled.spec.maps;
    assert.deepEqual(
      ['AT_a', 'AT_b', 'AT_c', 'AT_d'].map((n) => [maps[n]!.type, maps[n]!.maxEntries]),
      [
        [MapType.LRU_HASH, 100],
        [MapType.LRU_PERCPU_HASH, 20],
        [MapType.HASH, 7],
        [MapType.PERCPU_HASH, 4096],
      ],
    );
  });
});

describe('compile errors of the new constructs, with bpftrace\'s wording where it has one', () => {
  const cases: [string, string][] = [
    ['BEGIN { @x = 1; for ($kv : @x) { } }', 'stdin:1:28-30: ERROR: @x has no explicit keys (scalar map), and cannot be used for iteration\nBEGIN { @x = 1; for ($kv : @x) { } }\n                           ~~\n'],
    ['BEGIN { @h[1] = hist(3); for ($kv : @h) { } }', 'stdin:1:37-39: ERROR: Loop expression does not support type: hist_t\nBEGIN { @h[1] = hist(3); for ($kv : @h) { } }\n                                    ~~\n'],
    ['BEGIN { for ($kv : @nope) { } }', 'stdin:1:20-25: ERROR: Undefined map: @nope\nBEGIN { for ($kv : @nope) { } }\n                   ~~~~~\n'],
    ['BEGIN { $i = 1; for ($i : 0..2) { } }', 'stdin:1:22-24: ERROR: Loop declaration shadows existing variable: $i\nBEGIN { $i = 1; for ($i : 0..2) { } }\n                     ~~\n'],
    ['BEGIN { for ($i : 0..2) { $i = 3; } }', "stdin:1:27-29: ERROR: $i is the loop's variable and cannot be assigned\nBEGIN { for ($i : 0..2) { $i = 3; } }\n                          ~~\n"],
    ['BEGIN { for ($i : 0.."a") { } }', "stdin:1:22-25: ERROR: The for range end operator can not be used on expressions of type 'string[2]'\nBEGIN { for ($i : 0..\"a\") { } }\n                     ~~~\n"],
    ['tracepoint:syscalls:sys_enter_openat { for ($i : 0..2) { @[args->dfd] = 1; } }', "stdin:1:60-64: ERROR: 'args' builtin is not allowed in a for-loop\ntracepoint:syscalls:sys_enter_openat { for ($i : 0..2) { @[args->dfd] = 1; } }\n                                                           ~~~~\n"],
    ['uprobe:/bin/sh:main { for ($i : 0..2) { @ = arg0; } }', "stdin:1:45-49: ERROR: 'arg0' builtin is not allowed in a for-loop\nuprobe:/bin/sh:main { for ($i : 0..2) { @ = arg0; } }\n                                            ~~~~\n"],
    ['BEGIN { @h[1] = hist(1); @n = len(@h); }', 'stdin:1:35-37: ERROR: len() of a hist() map is not supported (its elements are buckets)\nBEGIN { @h[1] = hist(1); @n = len(@h); }\n                                  ~~\n'],
    ['BEGIN { @n = len(1); }', 'stdin:1:18-19: ERROR: len() expects a map: len(@name)\nBEGIN { @n = len(1); }\n                 ~\n'],
    ['BEGIN { @a[1] = 1; delete(@a); }', 'stdin:1:20-30: ERROR: delete() of @a needs a key: delete(@a, key), or clear(@a) for every element\nBEGIN { @a[1] = 1; delete(@a); }\n                   ~~~~~~~~~~\n'],
    ['BEGIN { printf("%r", buf(0, 100)); }', "stdin:1:29-32: ERROR: buf(): length 100 is out of range (0 to 64, bpftrace's default string size)\nBEGIN { printf(\"%r\", buf(0, 100)); }\n                            ~~~\n"],
    ['BEGIN { printf("%r", buf(0)); }', 'stdin:1:22-28: ERROR: buf() needs a length unless its argument is an array: buf(pointer, length)\nBEGIN { printf("%r", buf(0)); }\n                     ~~~~~~\n'],
    ['BEGIN { @ = uaddr("x"); }', "stdin:1:13-18: ERROR: uaddr() can only be used with uprobes and usdt probes, not 'begin' probes\nBEGIN { @ = uaddr(\"x\"); }\n            ~~~~~\n"],
    ['uprobe:/bin/sh:main { @ = *uaddr("tsbpf_no_such_symbol"); }', 'stdin:1:34-56: ERROR: Could not resolve symbol: /bin/sh:tsbpf_no_such_symbol\nuprobe:/bin/sh:main { @ = *uaddr("tsbpf_no_such_symbol"); }\n                                 ~~~~~~~~~~~~~~~~~~~~~~\n'],
    ['BEGIN { printf("%s", cgroup_path(1, 2)); }', 'stdin:1:37-38: ERROR: cgroup_path(): the hierarchy filter must be a string literal\nBEGIN { printf("%s", cgroup_path(1, 2)); }\n                                    ~\n'],
    ['BEGIN { @ = getopt(1); }', 'stdin:1:13-22: ERROR: getopt() expects an option name string literal, an optional default and an optional description string\nBEGIN { @ = getopt(1); }\n            ~~~~~~~~~\n'],
    ['BEGIN { @ = getopt("n", @x); }', 'stdin:1:25-27: ERROR: getopt(): the default must be a literal: true, false, an integer or a string\nBEGIN { @ = getopt("n", @x); }\n                        ~~\n'],
    ['let @a = tree(2); BEGIN { @a[1] = 1; }', "stdin:1:10-14: ERROR: 'tree' is not a map type: use hash, lruhash, percpuhash, percpulruhash\nlet @a = tree(2); BEGIN { @a[1] = 1; }\n         ~~~~\n"],
    ['let @a = hash(0); BEGIN { @a[1] = 1; }', 'stdin:1:15-16: ERROR: a map declaration takes the maximum number of entries, an integer from 1 to 16777216\nlet @a = hash(0); BEGIN { @a[1] = 1; }\n              ~\n'],
    ['let @a = hash(2); let @a = hash(3); BEGIN { @a[1] = 1; }', 'stdin:1:23-25: ERROR: @a is declared twice\nlet @a = hash(2); let @a = hash(3); BEGIN { @a[1] = 1; }\n                      ~~\n'],
    ['let @a = percpuhash(2); BEGIN { @a[1] = 1; }', 'stdin:1:5-23: ERROR: @a is declared percpuhash(), which holds aggregations (count(), sum()...), but it is assigned plain values: declare it hash()\nlet @a = percpuhash(2); BEGIN { @a[1] = 1; }\n    ~~~~~~~~~~~~~~~~~~\n'],
    ['BEGIN { printf("%r", 1); }', 'stdin:1:9-24: ERROR: printf: %r specifier expects a value of type buffer (integer supplied)\nBEGIN { printf("%r", 1); }\n        ~~~~~~~~~~~~~~~\n'],
    ['BEGIN { printf("%d", buf("abc", 2)); }', 'stdin:1:9-36: ERROR: printf: %d specifier expects a value of type integer (buffer supplied)\nBEGIN { printf("%d", buf("abc", 2)); }\n        ~~~~~~~~~~~~~~~~~~~~~~~~~~~\n'],
    ['BEGIN { $s = "abc"; @ = $s[9]; }', 'stdin:1:28-29: ERROR: index 9 is out of bounds for a string of size 4\nBEGIN { $s = "abc"; @ = $s[9]; }\n                           ~\n'],
  ];
  for (const [source, expected] of cases) {
    it(source, () => assert.equal(compileError(source), expected));
  }

  it('getopt(): a bad value and an argument the script never reads', () => {
    assert.match(compileError('BEGIN { @ = getopt("n", 3); }', { namedArgs: { n: 'x' } }), /--n=x: an integer option takes an integer/);
    assert.match(compileError('BEGIN { @ = getopt("b"); }', { namedArgs: { b: 'maybe' } }), /--b=maybe: a boolean option takes true, false, 1 or 0/);
    assert.match(compileError('BEGIN { @ = getopt("depth", 3); }', { namedArgs: { dpth: '2' } }), /the script reads no option --dpth \(getopt\(\) reads: --depth\)/);
  });
});

const skip = skipWithoutKernel();

describe('the new constructs in the kernel', { skip }, () => {
  checkNoKernelLeaks();
  let dir = '';
  let binary = '';
  before(() => {
    if (skip !== false) return;
    dir = mkdtempSync(join(tmpdir(), 'tsbpf-trace-lang-'));
    // A known process: 3 calls of a uprobe target, exactly 1000 getppid() calls, one write of known bytes (from the stack, so they are resident).
    writeFileSync(
      join(dir, 'lang.c'),
      `#include <unistd.h>
volatile unsigned int tsbpf_counter = 41;
volatile unsigned short tsbpf_small = 7;
__attribute__((noinline)) void tsbpf_tick(int i) { tsbpf_counter += i; __asm__ volatile("" ::: "memory"); }
int main(void) {
  char message[] = "a\\tb\\001\\n";
  for (int i = 0; i < 3; i++) tsbpf_tick(1);
  for (int i = 0; i < 1000; i++) getppid();
  return write(2, message, 5) == 5 ? 0 : 1;
}
`,
    );
    binary = join(dir, 'tsbpf_lang');
    // Not PIE, so bpftrace 0.17's uaddr() (which does not correct for the load address) reads the same variables.
    execFileSync('gcc', ['-O1', '-no-pie', '-o', binary, join(dir, 'lang.c')]);
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const runChild = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(binary, [], { stdio: 'ignore' });
      child.on('exit', (code) => resolve(code ?? 1));
      child.on('error', reject);
    });

  async function trace(source: string, options: Parameters<typeof compileScript>[1] = {}): Promise<string> {
    let out = '';
    await runInKernel(compileScript(source, { startNs: process.hrtime.bigint(), ...options }), { write: (t) => void (out += t), format: 'text', durationMs: 30_000, startCommand: runChild });
    return out;
  }

  it('for over a per-CPU count map sums every CPU; len(); getopt() and tuple keys; delete() while iterating', async () => {
    const out = await trace(
      'let @seen = lruhash(16); tracepoint:syscalls:sys_enter_getppid /comm == "tsbpf_lang"/ { @calls[comm] = count(); @cpu[cpu] = count(); @seen[tid, comm] = 1; } ' +
        'END { $total = 0; for ($kv : @cpu) { $total += $kv.1; } for ($kv : @calls) { printf("%s %d %d %d\\n", $kv.0, $kv.1, $total, len(@calls) * getopt("scale", 1)); } ' +
        'for ($kv : @seen) { $key = $kv.0; if (delete(@seen, $key)) { printf("deleted %s\\n", $key.1); } } printf("left %d\\n", len(@seen)); clear(@cpu); clear(@calls); }',
      { namedArgs: { scale: '10' } },
    );
    assert.equal(out, 'Attaching 2 probes...\ntsbpf_lang 1000 1000 10\ndeleted tsbpf_lang\nleft 0\n\n\n\n\n\n');
  });

  it('ppid and pcomm are the parent\'s (this process) pid and name', async () => {
    const out = await trace('tracepoint:syscalls:sys_enter_getppid /comm == "tsbpf_lang"/ { @[ppid, pcomm] = count(); }');
    const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
    assert.equal(out, `Attaching 1 probe...\n\n\n@[${process.pid}, ${comm}]: 1000\n`);
  });

  it('uaddr() reads the variables of a PIE binary too (ip - probed + symbol)', async () => {
    execFileSync('gcc', ['-O1', '-fPIE', '-pie', '-o', binary, join(dir, 'lang.c')]);
    try {
      const out = await trace(`uprobe:${binary}:tsbpf_tick { printf("%d %d\\n", *uaddr("tsbpf_counter"), *uaddr("tsbpf_small")); }`);
      assert.equal(out, 'Attaching 1 probe...\n41 7\n42 7\n43 7\n\n\n');
    } finally {
      execFileSync('gcc', ['-O1', '-no-pie', '-o', binary, join(dir, 'lang.c')]);
    }
  });

  it('buf() with %r, uaddr() and cgroup_path() print what bpftrace 0.17 prints (both run here)', { skip: skipWithoutCommand('bpftrace', 'apt-get install bpftrace') }, async () => {
    const script = join(dir, 'compare.bt');
    writeFileSync(
      script,
      `BEGIN { printf("%s\\n", cgroup_path(cgroup)); }
tracepoint:syscalls:sys_enter_write /comm == "tsbpf_lang"/ { printf("%r|%r\\n", buf(args->buf, args->count), buf(args->buf, 2)); @w[buf(args->buf, 3)] = count(); }
uprobe:${binary}:tsbpf_tick { printf("%d %d\\n", *uaddr("tsbpf_counter"), *uaddr("tsbpf_small")); }
`,
    );
    const theirs = execFileSync('bpftrace', [script, '-c', binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    const ours = await trace(`BEGIN { printf("%s\\n", cgroup_path(cgroup)); }
tracepoint:syscalls:sys_enter_write /comm == "tsbpf_lang"/ { printf("%r|%r\\n", buf(args->buf, args->count), buf(args->buf, 2)); @w[buf(args->buf, 3)] = count(); }
uprobe:${binary}:tsbpf_tick { printf("%d %d\\n", *uaddr("tsbpf_counter"), *uaddr("tsbpf_small")); }`);
    assert.equal(ours, theirs);
    assert.match(ours, /^a\\x09b\\x01\\x0a\|a\\x09$/m);
  });
});
