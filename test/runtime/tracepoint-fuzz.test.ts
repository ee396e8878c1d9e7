import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTracepointRecord, parseTracepointFormat, TracepointFormatError } from '../../src/vm/tracepoint.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

// The tracefs format parser takes text from files and from users: mutated
// formats must parse or raise TracepointFormatError, never anything else.

const FORMATS = [
  `name: sys_enter_openat
ID: 700
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename))
`,
  `name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;

print fmt: "filename=%s pid=%d", __get_str(filename), REC->pid
`,
];

function mutate(text: string, random: () => number): string {
  const pick = (n: number): number => Math.floor(random() * n);
  let out = text;
  for (let edits = 1 + pick(4); edits > 0; edits--) {
    const at = pick(out.length + 1);
    switch (pick(6)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + pick(20));
        break;
      case 1:
        out = out.slice(0, at) + String.fromCharCode(pick(128)) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + ['999999999999', '-1', ';', ':', '\t', '\n', '[', ']', 'field:', 'offset:', 'size:0;', '__data_loc '][pick(12)] + out.slice(at);
        break;
      case 3:
        out = out.slice(0, at);
        break;
      case 4:
        out = out.replace(/\d+/, String(pick(2 ** 31)));
        break;
      default: {
        const lines = out.split('\n');
        const i = pick(lines.length);
        lines.splice(i, 0, lines[pick(lines.length)]!);
        out = lines.join('\n');
      }
    }
  }
  return out;
}

test('mutated tracepoint formats parse or raise TracepointFormatError; records build or raise it too', () => {
  const seed = fuzzSeed(0x7e5);
  const random = seededRandom(seed);
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < 4000; i++) {
    const text = mutate(FORMATS[i % FORMATS.length]!, random);
    try {
      const format = parseTracepointFormat(text);
      parsed++;
      try {
        buildTracepointRecord(format, {});
      } catch (error) {
        if (!(error instanceof TracepointFormatError)) throw error;
      }
    } catch (error) {
      if (!(error instanceof TracepointFormatError)) {
        assert.fail(`seed ${seed}, case ${i}: ${String(error)}\n--- input ---\n${text}`);
      }
      rejected++;
    }
  }
  assert.ok(parsed > 100 && rejected > 100, `parsed ${parsed}, rejected ${rejected}: the mutations should exercise both paths`);
});
