// `tsbpf object` and `tsbpf disasm`, run in-process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command as objectCommand } from '../../src/cli/commands/object.ts';
import { command as disasmCommand } from '../../src/cli/commands/disasm.ts';
import type { CliCommand } from '../../src/cli/command.ts';
import { UsageError } from '../../src/cli/command.ts';
import { encode } from '../../src/isa/encoding.ts';
import { exit, mov64Imm } from '../../src/isa/instruction.ts';
import { ObjectError } from '../../src/object/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';

const skip = skipWithoutClang();

async function run(command: CliCommand, args: string[]): Promise<string> {
  let stdout = '';
  const code = await command.run(args, { stdout: (t) => (stdout += t), stderr: () => {}, stdin: async () => new Uint8Array() });
  assert.equal(code, 0);
  return stdout;
}

test('tsbpf object lists programs, maps, relocations, BTF', { skip }, async () => {
  const path = compileBpf(fixturePath('object', 'btf_maps.c'));
  const text = await run(objectCommand, [path]);
  assert.match(text, /entry\s+'tc'\s+SCHED_CLS\s+46 insns/);
  assert.match(text, /outer\s+ARRAY_OF_MAPS .*contents=\[0:inner_a, 3:inner_b\]/);
  assert.match(text, /jumps\s+PROG_ARRAY .*contents=\[1:tail_a, 5:tail_b\]/);
  assert.match(text, /41: map jumps/);
  assert.match(text, /BTF: \d+ types/);
  const json = JSON.parse(await run(objectCommand, [path, '--json']));
  assert.equal(json.programs.entry.instructions.length, 46);
  assert.equal(json.maps.bloom.mapExtra, '3');
  assert.equal(typeof json.btf.types, 'number');
  await assert.rejects(objectCommand.run([], { stdout: () => {}, stderr: () => {}, stdin: async () => new Uint8Array() }), UsageError);
});

test('tsbpf disasm interleaves source lines and relocations', { skip }, async () => {
  const path = compileBpf(fixturePath('object', 'subprogs.c'));
  const text = await run(disasmCommand, [path, '--program', 'second']);
  assert.match(text, /Program second \(section 'tc', SCHED_CLS, 25 instructions\)/);
  assert.match(text, /; bpf_loop\(8, loop_body, &c, 0\);\n\s+5:\tw1 = 0x8\n\s+6:\tr2 = func\(pc\+8\) ll\n\t\tfunction loop_body/);
  assert.match(text, /<square>:\n; static __noinline int square\(int x\)\n\s+22:\tw0 = w1/);
  const bare = await run(disasmCommand, [path, '--program', 'first', '--no-source']);
  assert.doesNotMatch(bare, /^;/m);
  await assert.rejects(run(disasmCommand, [path, '--program', 'nope']), /no program 'nope'.*first, second/);
});

test('tsbpf disasm --raw reads bytecode in either byte order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-disasm-'));
  const program = [mov64Imm(0, 7), exit()];
  writeFileSync(join(dir, 'le.bin'), encode(program, 'little'));
  writeFileSync(join(dir, 'be.bin'), encode(program, 'big'));
  const expected = '   0: r0 = 0x7\n   1: exit\n';
  assert.equal(await run(disasmCommand, ['--raw', join(dir, 'le.bin')]), expected);
  assert.equal(await run(disasmCommand, ['--raw', join(dir, 'be.bin'), '--big-endian']), expected);
  await assert.rejects(run(disasmCommand, [join(dir, 'le.bin')]), ObjectError);
});
