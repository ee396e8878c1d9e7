/**
 * Regressions from a review of `tsbpf trace`: compile cost of long
 * expressions, unreachable code, scripts and arguments bpftrace refuses,
 * bpftrace's arithmetic, limits on huge scripts, and -c/-p targets. The
 * expected texts are bpftrace 0.17's on this machine where it has one.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compileScript } from '../../src/trace/index.ts';
import { verifyCollection } from '../../src/verifier/index.ts';
import { spawnTsbpf } from '../support/cli.ts';
import { compileError, runOnVm } from './support.ts';

/** Compiles, checks that tsbpf's verifier accepts every program, and returns the VM's output. */
async function verifiedRun(source: string, positional: string[] = []): Promise<string> {
  const compiled = compileScript(source, { positional });
  for (const [name, result] of Object.entries(verifyCollection(compiled.spec, {}))) assert.equal(result.error, undefined, `${name}: ${result.error?.message}`);
  return runOnVm(source, 'text', { positional });
}

describe('trace review: long expressions', () => {
  it('a chain of operators compiles in linear time (each subtree typed once)', () => {
    // Typing subtrees again at every level cost 2^n: 60 operators would never finish.
    const compiled = compileScript(`BEGIN { @x = ${'pid+'.repeat(60)}1; @y = ${'1+'.repeat(150)}1; exit(); }`);
    assert.ok(Object.keys(compiled.spec.programs).length === 1);
  });

  it('a chain of 25 string comparisons reuses its stack (it crashed the learning pass with an unplaced label)', async () => {
    const source = `BEGIN { @x = ${'comm == "a" || '.repeat(24)}comm == "tester"; exit(); }`;
    assert.equal(await verifiedRun(source), 'Attaching 1 probe...\n\n\n@x: 1\n');
  });

  it('a 5,000-term chain is refused at the operator past the nesting limit, with the place', () => {
    const error = compileError(`BEGIN { @x = ${'1+'.repeat(5000)}1; exit(); }`);
    const head = error.split('\n')[0];
    assert.equal(head, 'stdin:1:411-412: ERROR: nesting deeper than 200 levels');
    // The 10 KB line is shown around the place only.
    assert.ok(error.length < 500, error);
  });

  it('macros nested in each other: a shared argument is walked once, and a too-deep expansion is refused, not a stack overflow', () => {
    // m(m(...40...)) with `a + a` is 2^40 additions: refused at the kernel's instruction limit, after a million of them.
    const doubling = compileError(`macro m(a) { a + a }\nBEGIN { @x = ${'m('.repeat(40)}1${')'.repeat(40)}; exit(); }`);
    assert.match(doubling.split('\n')[0]!, /^stdin:2:9-\d+: ERROR: the probe's program exceeds the kernel's limit of 1000000 instructions/);
    const deep = compileError(`macro m(a) { a${' + 1'.repeat(150)} }\nBEGIN { @x = ${'m('.repeat(150)}1${')'.repeat(150)}; exit(); }`);
    assert.equal(deep.split('\n')[0], 'stdin:2:1-8: ERROR: macro expansion nests deeper than the compiler allows (1200 levels)');
  });

  it('field and index chains count toward the limit too', () => {
    assert.match(compileError(`BEGIN { @x = $t${'.0'.repeat(3000)}; }`), /ERROR: nesting deeper than 200 levels/);
    assert.match(compileError(`BEGIN { @x = $t${'[1]'.repeat(3000)}; }`), /ERROR: nesting deeper than 200 levels/);
  });
});

describe('trace review: unreachable code', () => {
  const cases: [string, string][] = [
    ['BEGIN { exit(); exit(); }', 'Attaching 1 probe...\n\n\n'],
    ['BEGIN { @x = 1; exit(); return; }', 'Attaching 1 probe...\n\n\n@x: 1\n'],
    ['BEGIN { if (1) { exit(); } else { exit(); } @y = 2; }', 'Attaching 1 probe...\n\n\n'],
    ['BEGIN { $i = 0; while ($i < 3) { $i++; continue; $i = 9; } printf("%d\\n", $i); exit(); }', 'Attaching 1 probe...\n3\n\n\n'],
    ['BEGIN { $i = 0; while ($i < 3) { $i++; continue; } printf("%d\\n", $i); exit(); }', 'Attaching 1 probe...\n3\n\n\n'],
    ['BEGIN { unroll(3) { @n++; exit(); } }', 'Attaching 1 probe...\n\n\n@n: 1\n'],
    // The two empty maps print as empty lines, as in bpftrace.
    ['BEGIN { if (1) { return; } else { @z = 1; } @w = 1; } END { @e = 1; } interval:ms:1 { exit(); }', 'Attaching 3 probes...\n\n\n@e: 1\n\n\n'],
  ];
  for (const [source, expected] of cases) {
    it(`is not generated, and the program verifies: ${source}`, async () => assert.equal(await verifiedRun(source), expected));
  }

  it('BEGIN { return; @x = 1; } verifies (it waits for Ctrl-C, as in bpftrace)', () => {
    const compiled = compileScript('BEGIN { return; @x = 1; }');
    for (const result of Object.values(verifyCollection(compiled.spec, {}))) assert.equal(result.error, undefined);
  });

  it('code after break and continue gets bpftrace\'s warning, once, at the jump', () => {
    const compiled = compileScript('BEGIN { $i = 0; while ($i < 3) { $i++; continue; $i = 9; } while (1) { break; $i = 2; } exit(); }');
    assert.deepEqual(compiled.warnings.map((w) => w.format('WARNING')), [
      "stdin:1:40-48: WARNING: All code after a 'continue' is unreachable.\nBEGIN { $i = 0; while ($i < 3) { $i++; continue; $i = 9; } while (1) { break; $i = 2; } exit(); }\n                                       ~~~~~~~~\n",
      "stdin:1:72-77: WARNING: All code after a 'break' is unreachable.\nBEGIN { $i = 0; while ($i < 3) { $i++; continue; $i = 9; } while (1) { break; $i = 2; } exit(); }\n                                                                       ~~~~~\n",
    ]);
    assert.deepEqual(compileScript('BEGIN { exit(); @x = 1; }').warnings, []);
  });
});

describe('trace review: scripts and arguments bpftrace refuses', () => {
  const refused: [string, string[], string][] = [
    ['BEGIN { printf("%s|\\n", 1); exit(); }', [], 'stdin:1:25-26: ERROR: printf: %s specifier expects a value of type string (integer supplied)\nBEGIN { printf("%s|\\n", 1); exit(); }\n                        ~\n'],
    ['BEGIN{printf("%d\\n",$1);exit();}', ['99999999999999999999999'], 'stdin:1:21-23: ERROR: $1 used numerically but given "99999999999999999999999". Try using str($1).\nBEGIN{printf("%d\\n",$1);exit();}\n                    ~~\n'],
    ['BEGIN{@x = $1 + 1;exit();}', ['abc'], 'stdin:1:12-14: ERROR: $1 used numerically but given "abc". Try using str($1).\nBEGIN{@x = $1 + 1;exit();}\n           ~~\n'],
    ['BEGIN { @x = $99999999999999999999; exit(); }', [], 'stdin:1:14-35: ERROR: param $99999999999999999999 is out of integer range [1, 9223372036854775807]\nBEGIN { @x = $99999999999999999999; exit(); }\n             ~~~~~~~~~~~~~~~~~~~~~\n'],
    ['BEGIN { printf("%s|\\n", str(1, -1)); exit(); }', [], 'stdin:1:32-34: ERROR: str(): cannot use negative length (-1)\nBEGIN { printf("%s|\\n", str(1, -1)); exit(); }\n                               ~~\n'],
    ['#include <nope.h>\nBEGIN { exit(); }', [], "stdin:1:11-17: ERROR: 'nope.h' file not found\n#include <nope.h>\n          ~~~~~~\n"],
  ];
  for (const [source, positional, expected] of refused) {
    it(`${source.replace(/\n/g, '\\n')} ${positional.join(' ')}`, () => assert.equal(compileError(source, { positional }), expected));
  }

  it('headers that exist, and guarded ones, are accepted', () => {
    compileScript('#include <linux/sched.h>\n#ifndef BPFTRACE_HAVE_BTF\n#include <nope.h>\n#endif\nBEGIN { exit(); }');
  });

  it('$1 in hex is a number, and str($1) its text', async () => {
    assert.equal(await verifiedRun('BEGIN { printf("%d %s %d\\n", $1, str($1), $2); exit(); }', ['0x10', '-0x2']), 'Attaching 1 probe...\n16 0x10 -2\n\n\n');
  });
});

describe('trace review: arithmetic as bpftrace', () => {
  it('/ and % are unsigned, >> is logical, shifts past 63 give 0 (bpftrace 0.17\'s output)', async () => {
    const source = 'BEGIN { $a = -7; $b = 2; $c = 3; $s = 64; printf("%d %d %d %d %d %d %d\\n", -7/2, -7%3, $a/$b, $a%$c, -7/3, -8/3, 7/-2); @x = 1 << 64; @y = 1 << 65; @z = 1 << $s; @w = -16 >> 2; @v = 1 << 63; @u = (uint64)7 / 2; exit(); }';
    assert.equal(await verifiedRun(source), 'Attaching 1 probe...\n-4 0 -4 0 1431655763 1431655762 0\n\n\n@u: 3\n@v: -9223372036854775808\n@w: 4611686018427387900\n@x: 0\n@y: 0\n@z: 0\n');
  });

  it('signed operands of / and % get bpftrace\'s warning; unsigned ones and non-negative literals do not', () => {
    const compiled = compileScript('BEGIN { $a = -7; @x = $a / 2; @y = pid % 3; @z = (uint64)$a / 2; exit(); }');
    assert.deepEqual(compiled.warnings.map((w) => w.format('WARNING')), [
      "stdin:1:23-29: WARNING: signed operands for '/' can lead to undefined behavior (cast to unsigned to silence warning)\nBEGIN { $a = -7; @x = $a / 2; @y = pid % 3; @z = (uint64)$a / 2; exit(); }\n                      ~~~~~~\n",
    ]);
  });
});

describe('trace review: limits on huge scripts', () => {
  it('more statements than the limit are refused while parsing', () => {
    const error = compileError(`BEGIN { ${'$x = 1; '.repeat(100_001)}}`);
    assert.match(error.split('\n')[0]!, /^stdin:1:800009-800011: ERROR: the script has more than 100000 statements/);
  });

  it('a probe whose program would pass the kernel\'s million instructions stops there, with the place', () => {
    // 100 x 100 copies of 12 statements: far past a million instructions, from a small script.
    const error = compileError(`BEGIN { unroll(100) { unroll(100) { ${'@x = 1; '.repeat(12)}} } }`);
    assert.match(error.split('\n')[0]!, /^stdin:1:\d+-\d+: ERROR: the probe's program exceeds the kernel's limit of 1000000 instructions/);
  });

  it('more probes than BPFTRACE_MAX_PROBES (512 by default) are refused, with bpftrace\'s message', () => {
    const many = 'BEGIN { @x = 1; }\n'.repeat(600);
    assert.match(compileError(many), /^stdin:513:1-6: ERROR: Can't attach to more than 512 probes because it exceeds the current limit of 512 probes\. You can increase the limit through the BPFTRACE_MAX_PROBES environment variable/);
    assert.equal(compileError('BEGIN { @x = 1; } interval:s:1, interval:s:2 { exit(); }', { maxProbes: 2 }).split('\n')[0], "ERROR: Can't attach to 3 probes because it exceeds the current limit of 2 probes. You can increase the limit through the BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number of probes attached can cause your system to crash.");
  });
});

describe('trace review: -c and -p targets', () => {
  it('-c with a command that cannot be run fails with status 1', async () => {
    const r = await spawnTsbpf(['trace', '-e', 'BEGIN { exit(); }', '-c', '/nonexistent/bin']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "ERROR: Failed to fork child: path '/nonexistent/bin' does not exist or is not executable\n");
    const onPath = await spawnTsbpf(['trace', '-e', 'BEGIN { exit(); }', '-c', 'no-such-tsbpf-command --flag']);
    assert.equal(onPath.stderr, "ERROR: Failed to fork child: path 'no-such-tsbpf-command' does not exist or is not executable\n");
  });

  it('-p with no such process fails with status 1', async () => {
    const outOfRange = await spawnTsbpf(['trace', '-e', 'BEGIN { exit(); }', '-p', '99999999']);
    assert.equal(outOfRange.code, 1);
    assert.equal(outOfRange.stderr, "ERROR: pid '99999999' out of valid pid range [1,4194304]\n");
    const gone = await spawnTsbpf(['trace', '-e', 'BEGIN { exit(); }', '-p', '4194304']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, "ERROR: pid '4194304': no such process\n");
  });
});
