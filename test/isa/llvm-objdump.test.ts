import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Instruction, assemble, decode, formatInstruction, isLddw } from '../../src/isa/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';

/** The LLVM tool of clang's major version (clang-19 -> llvm-objdump-19), or undefined. */
function llvmTool(name: string): string | undefined {
  for (const candidate of [`${name}-19`, `${name}-20`, `${name}-18`, name]) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not installed under this name
    }
  }
  return undefined;
}

const objdump = llvmTool('llvm-objdump');
const objcopy = llvmTool('llvm-objcopy');

function skip(): string | false {
  const clang = skipWithoutClang();
  if (clang !== false) return clang;
  if (objdump === undefined || objcopy === undefined) {
    if (process.env.CI === 'true') throw new Error('CI=true but llvm-objdump / llvm-objcopy are missing');
    return 'llvm-objdump / llvm-objcopy not installed';
  }
  return false;
}

const SECTIONS = ['.text', 'xdp'];

function sectionProgram(object: string, section: string): Instruction[] {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-objdump-'));
  try {
    const out = join(dir, 'section.bin');
    execFileSync(objcopy!, ['-O', 'binary', `--only-section=${section}`, object, out]);
    return decode(new Uint8Array(readFileSync(out)), { validate: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** llvm-objdump's listing split per section: the lines after `Disassembly of section NAME:`. */
function listing(object: string, alu32: boolean): Map<string, string> {
  const args = ['-d', '--no-show-raw-insn', ...(alu32 ? ['--mattr=+alu32'] : []), object];
  const text = execFileSync(objdump!, args, { encoding: 'utf8' });
  const out = new Map<string, string>();
  for (const block of text.split(/^Disassembly of section /m).slice(1)) {
    const name = block.slice(0, block.indexOf(':\n'));
    out.set(name, block.slice(block.indexOf('\n') + 1));
  }
  return out;
}

/** Slot -> instruction text of an llvm-objdump listing, without `<sym+0x..>` annotations. */
function textBySlot(list: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of list.split('\n')) {
    const m = /^\s*(\d+):\t(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!.replace(/\s*<[^<>]*>$/, '').trim());
  }
  return out;
}

for (const cpu of ['v3', 'v4'] as const) {
  test(`llvm-objdump-19 output of a clang -mcpu=${cpu} object assembles to the object's bytes`, { skip: skip() }, () => {
    const object = compileBpf(fixturePath('isa', 'asm_listing.c'), { cpu });
    // Plain llvm-objdump cannot decode 32-bit atomics (`<unknown>`); with +alu32 it can.
    const alu32 = listing(object, true);
    for (const section of SECTIONS) {
      const expected = sectionProgram(object, section);
      const text = alu32.get(section);
      assert.ok(text !== undefined && expected.length > 0, `section ${section} missing`);
      assert.doesNotMatch(text, /<unknown>/);
      assert.deepEqual(assemble(text), expected, `${section}:\n${text}`);
    }
  });

  test(`our disassembly reads as llvm-objdump-19's for a clang -mcpu=${cpu} object`, { skip: skip() }, () => {
    const object = compileBpf(fixturePath('isa', 'asm_listing.c'), { cpu });
    const plain = listing(object, false);
    const alu32 = listing(object, true);
    let compared = 0;
    for (const section of SECTIONS) {
      const program = sectionProgram(object, section);
      const plainText = textBySlot(plain.get(section)!);
      const alu32Text = textBySlot(alu32.get(section)!);
      for (let n = 0; n < program.length; n++) {
        const ours = formatInstruction(program, n, { helperNames: false });
        // llvm prints the value register of 8/16/32-bit loads and stores as w only under +alu32; ours matches one of the two.
        const theirs = [plainText.get(n), alu32Text.get(n)];
        assert.ok(theirs.includes(ours), `${section} slot ${n}: ours '${ours}', llvm-objdump '${theirs.join("' / '")}'`);
        compared++;
        if (isLddw(program[n]!)) n++;
      }
    }
    assert.ok(compared > 50, `${compared} instructions compared`);
  });
}
