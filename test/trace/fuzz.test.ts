import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TraceError } from '../../src/trace/index.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { compileOffline } from './support.ts';

const SEEDS = [
  'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }',
  'tracepoint:syscalls:sys_enter_openat /pid > 1 && comm != "x"/ { printf("%s %s %-6d\\n", comm, str(args->filename), tid); @h = hist(args->flags); }',
  'BEGIN { $i = 0; while ($i < 3) { @a[$i, "k"] = sum($i); $i++; } if ($i == 3) { exit(); } else { print(@a); } }',
  'uretprobe:/bin/sh:main { @s = stats(retval); @l = lhist(retval, 0, 100, 10); @t = (1, "a"); $x = @t.0 ? 1 : 2; }',
  'interval:s:1 { time("%H:%M:%S\\n"); clear(@x); @x = max(nsecs); @y = min(-5) ; @z = avg(3); }',
  '#!/usr/bin/env bpftrace\n#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\n#endif\nBEGIN\n{\n\tprintf("Tracing... Hit Ctrl-C to end.\\n");\n}\n/* comment */ END { @x = 1; clear(@x); }',
  'profile:hz:99 /cpu == 0/ { @[kstack] = count(); @u[ustack, comm] = count(); }',
  'macro twice(e) { e * 2 }\nmacro add(@m, $k) { @m[$k] = twice($k); }\nBEGIN { $v = 3; add(@x, $v); exit(); }',
  'tracepoint:syscalls:sys_enter_openat { for ($i : 0..4) { if ($i == 2) { break; } @r[$i] = (uint8)$i << 2; } unroll(2) { @c++; } @d -= 1; }',
  'let @m = lruhash(8); BEGIN { @m[1, "a"] = count(); for ($kv : @m) { printf("%s %d %d\\n", $kv.0.1, $kv.1, len(@m)); for ($j : 0..$kv.0.0) { continue; } } $t = (1, "a"); delete(@m, $t); }',
  'BEGIN { printf("%r %s %s %d\\n", buf("ab", 2), strerror(2), cgroup_path(cgroup), getopt("n", 3)); let $x; $x = ppid; @[pcomm] = $x; }',
];

const PIECES = ['1+1+1+1+1+1+1+1+', ' && pid > 1 || ', ' << 70 ', ' / -3 % ', '{', '}', '(', ')', '[', ']', ';', ',', '/', '"', '@', '$', '->', '.', '?', ':', '==', '++', '=', 'count()', 'hist(', 'str(', 'args', 'comm', '$1', '0x', '#', '\n', ' ', 'if', 'else', 'while', 'printf("%d', '(uint64)', '(struct task_struct *)', '..', "'", '\\', '/*', '//', 'BEGIN', 'tracepoint:', 'offsetof(struct sock, ', 'strcontains(', 'strftime("%H", ', 'software:cs:', 'print(@x, ', 'macro m($a, @b, c) { ', 'm(1)', 'for ($kv : @m) ', 'buf(', 'len(@m)', 'getopt("x", ', 'let @q = lruhash(4);', '%r'];

/** Inserts, deletes, duplicates and swaps pieces of a seed script. */
function mutate(source: string, random: () => number): string {
  let s = source;
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (s.length + 1));
    switch (Math.floor(random() * 4)) {
      case 0:
        s = s.slice(0, at) + PIECES[Math.floor(random() * PIECES.length)]! + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 6));
        break;
      case 2: {
        const length = Math.floor(random() * 20);
        s = s.slice(0, at) + s.slice(at, at + length) + s.slice(at);
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(random() * 128)) + s.slice(at + 1);
    }
  }
  return s;
}

describe('trace parser and compiler fuzz', () => {
  it('no mutated script crashes the compiler: it compiles or throws TraceError', () => {
    const random = seededRandom(fuzzSeed(0x7ace));
    let compiled = 0;
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      const source = mutate(SEEDS[i % SEEDS.length]!, random);
      try {
        compileOffline(source);
        compiled++;
      } catch (error) {
        if (!(error instanceof TraceError)) assert.fail(`${JSON.stringify(source)}: ${(error as Error).stack}`);
        assert.ok(error.format().startsWith(error.span ? 'stdin:' : 'ERROR:'));
        refused++;
      }
    }
    assert.ok(compiled > 50 && refused > 50, `compiled ${compiled}, refused ${refused}: the mutations should give both`);
  });

  it('deep nesting and huge inputs are refused, not a stack overflow', () => {
    const chains = ['1+', 'pid * ', '$x && ', '1 << ', '@a[1] - ', '"a" == '].map((link) => `BEGIN { $x = 1; @a[1] = 2; @x = ${link.repeat(6000)}1; }`);
    const postfix = [`BEGIN { $t = (1, 2); @x = $t${'.0'.repeat(6000)}; }`, `BEGIN { @x = args${'->f'.repeat(6000)}; }`, `BEGIN { @x = $s${'[0]'.repeat(6000)}; }`];
    for (const source of [`BEGIN { @x = ${'('.repeat(5000)}1${')'.repeat(5000)}; }`, `BEGIN { ${'if (1) { '.repeat(3000)} }`, `BEGIN { @x = ${'!'.repeat(5000)}1; }`, ...chains, ...postfix]) {
      assert.throws(() => compileOffline(source), (error: unknown) => error instanceof TraceError && error.span !== undefined && /nesting deeper than 200 levels/.test(error.problem));
    }
    // `--` is a decrement: a run of minus signs is a syntax error, not a deep nesting.
    assert.throws(() => compileOffline(`BEGIN { @x = ${'-'.repeat(5000)}1; }`), TraceError);
  });

  it('every seed compiles', () => {
    for (const seed of SEEDS) compileOffline(seed);
  });
});
