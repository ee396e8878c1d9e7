import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TraceError } from '../../src/trace/index.ts';
import { ROOT } from '../support/env.ts';
import { compileOffline } from './support.ts';

function compileError(source: string): string {
  try {
    compileOffline(source);
  } catch (error) {
    if (error instanceof TraceError) return error.format();
    throw error;
  }
  assert.fail(`no error for ${JSON.stringify(source)}`);
}

describe('trace compile errors', () => {
  // Captured from bpftrace 0.17 on this machine: tsbpf prints the same text, position and underline.
  const bpftrace: [string, string][] = [
    ['BEGIN { foo(1); }', 'stdin:1:9-12: ERROR: Unknown function: foo\nBEGIN { foo(1); }\n        ~~~\n'],
    [
      'tracepoint:syscalls:sys_exit_read { @ = retval; }',
      "stdin:1:41-47: ERROR: The retval builtin can only be used with 'kretprobe' and 'uretprobe' and 'kfunc' probes (try to use args->ret instead)\ntracepoint:syscalls:sys_exit_read { @ = retval; }\n                                        ~~~~~~\n",
    ],
    ['BEGIN { printf("%d\\n"); }', 'stdin:1:9-23: ERROR: printf: Not enough arguments for format string (0 supplied, 1 expected)\nBEGIN { printf("%d\\n"); }\n        ~~~~~~~~~~~~~~\n'],
    ['BEGIN { $x = 1;\n @y = $z; }', 'stdin:2:7-9: ERROR: Undefined or undeclared variable: $z\n @y = $z; }\n      ~~\n'],
  ];
  for (const [source, expected] of bpftrace) {
    it(`as bpftrace: ${source.split('\n')[0]}`, () => assert.equal(compileError(source), expected));
  }

  const table = JSON.parse(readFileSync(join(ROOT, 'test', 'trace', 'fixtures', 'errors.json'), 'utf8')) as [string, string][];
  for (const [source, expected] of table) {
    it(source.replace(/\n/g, '\\n'), () => assert.equal(compileError(source), expected));
  }

  it('names the script file and the line in a multi-line script', () => {
    try {
      compileOffline('BEGIN {\n  @x = 1;\n  @x = nope();\n}\n', { file: 'tool.bt' });
      assert.fail('compiled');
    } catch (error) {
      assert.ok(error instanceof TraceError);
      assert.equal(error.format(), 'tool.bt:3:8-12: ERROR: Unknown function: nope\n  @x = nope();\n       ~~~~\n');
    }
  });

  it('places an error in the file that holds the script (an exporter config), the line shown as indented there', () => {
    try {
      compileOffline('BEGIN {\n  @x = 1;\n  @x = nope();\n}\n', { file: 'app.yaml', origin: { line: 4, column: 7 } });
      assert.fail('compiled');
    } catch (error) {
      assert.ok(error instanceof TraceError);
      assert.equal(error.message, 'app.yaml:6:14-18: Unknown function: nope');
      assert.equal(error.format(), 'app.yaml:6:14-18: ERROR: Unknown function: nope\n        @x = nope();\n             ~~~~\n');
    }
  });

  it('refuses a probe that needs more than the 512-byte BPF stack', () => {
    const args = Array.from({ length: 9 }, () => 'str(arg0)').join(', ');
    assert.match(compileError(`uprobe:/bin/sh:main { printf("${'%s'.repeat(9)}", ${args}); }`), /more than the kernel's 512-byte stack/);
  });
});
