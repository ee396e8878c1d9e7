// Every linked program of every fixture, instruction by instruction, against
// llvm-objdump-19's disassembly of the same object: unrelocated instructions
// must assemble back to exactly what we hold, calls and function pointers
// must reach the function objdump says they reach, and relocated lddw's must
// carry the relocation objdump prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.ts';
import { formatInstruction } from '../../src/isa/disasm.ts';
import { CallSrc, OPCODE_CALL, OPCODE_LDDW } from '../../src/isa/opcodes.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import type { CollectionSpec, ProgramSpec, Relocation } from '../../src/object/index.ts';
import type { Instruction } from '../../src/isa/instruction.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { FIXTURES } from './fixtures.ts';
import { type ObjdumpFunction, type ObjdumpLine, objdumpAvailable, objdumpFunctions } from './objdump.ts';


const skip = skipWithoutClang() || (objdumpAvailable() ? false : 'llvm-objdump-19 not installed');

/** The immediate objdump printed: `call 0x11`, `r1 = 0x8 ll`. */
function printedImmediate(text: string): number {
  const m = /(-?)(0x[0-9a-f]+|\d+)(?: ll)?$/.exec(text);
  assert.ok(m, `no immediate in '${text}'`);
  const value = Number(m[2]);
  return m[1] === '-' ? -value : value;
}

/** The linked function containing linked instruction `index`. */
function linkedFunctionAt(program: ProgramSpec, index: number): { name: string; insnIndex: number } {
  const sorted = [...program.functions].sort((a, b) => a.insnIndex - b.insnIndex);
  let found = sorted[0]!;
  for (const f of sorted) if (f.insnIndex <= index) found = f;
  return found;
}

/** objdump's view of where a call/function pointer goes: function name and offset inside it. */
function expectedTarget(fns: ObjdumpFunction[], fn: ObjdumpFunction, line: ObjdumpLine, via: 'call' | 'func'): { name: string; offset: number } {
  const imm = printedImmediate(line.text);
  let section = fn.section;
  let index: number;
  if (line.relocation === undefined) {
    index = line.index + imm + 1;
  } else {
    const named = fns.find((f) => f.name === line.relocation!.symbol);
    if (named !== undefined) {
      section = named.section;
      index = named.start + (via === 'call' ? imm + 1 : imm / 8);
    } else {
      section = line.relocation.symbol;
      index = via === 'call' ? imm + 1 : imm / 8;
    }
  }
  const target = fns.find((f) => f.section === section && f.lines.some((l) => l.index === index));
  assert.ok(target, `objdump: no function holds instruction ${index} of ${section}`);
  return { name: target.name, offset: index - target.start };
}

function checkProgram(spec: CollectionSpec, program: ProgramSpec, fns: ObjdumpFunction[]): number {
  let checked = 0;
  for (const linkedFn of program.functions) {
    const fn = fns.find((f) => f.name === linkedFn.name);
    assert.ok(fn, `objdump has no function ${linkedFn.name}`);
    for (const line of fn.lines) {
      const at: number = linkedFn.insnIndex + (line.index - fn.start);
      const where: string = `${program.name}: ${fn.name}+${line.index - fn.start} '${line.text}'`;
      const insn: Instruction = program.instructions[at]!;
      const reference = assemble(line.text, { syntax: 'llvm' });
      assert.equal(insn.opcode, reference[0]!.opcode, `${where}: opcode`);
      checked++;
      const isLocalCall = insn.opcode === OPCODE_CALL && insn.src === CallSrc.LOCAL;
      const isFuncPointer = insn.opcode === OPCODE_LDDW && program.relocations.some((r) => r.insnIndex === at && r.kind === 'callback');
      if (isLocalCall || isFuncPointer) {
        const expected = expectedTarget(fns, fn, line, isLocalCall ? 'call' : 'func');
        const target: number = at + insn.imm + 1;
        const reached = linkedFunctionAt(program, target);
        assert.equal(reached.name, expected.name, `${where}: target function`);
        assert.equal(target - reached.insnIndex, expected.offset, `${where}: offset in target`);
        continue;
      }
      if (line.relocation !== undefined) {
        const relocation: Relocation | undefined = program.relocations.find((r) => r.insnIndex === at);
        assert.ok(relocation, `${where}: relocation against ${line.relocation.symbol} missing`);
        const symbol = line.relocation.symbol;
        switch (relocation.kind) {
          case 'map':
            // Static legacy maps are relocated against their section's symbol (the addend picks the map: legacy-objects.test.ts).
            if (symbol !== spec.maps[relocation.mapName]?.section) assert.equal(relocation.mapName, symbol, where);
            break;
          case 'mapValue': {
            const variable = spec.variables[symbol];
            const imm = printedImmediate(line.text);
            if (variable !== undefined) {
              assert.equal(relocation.mapName, variable.mapName, where);
              assert.equal(relocation.offset, variable.offset + imm, where);
            } else {
              assert.equal(relocation.mapName, symbol, where);
              assert.equal(relocation.offset, imm, where);
            }
            assert.equal(program.instructions[at + 1]!.imm, relocation.offset, `${where}: offset in the second slot`);
            break;
          }
          case 'kconfig':
          case 'ksym':
            assert.equal(relocation.externName, symbol, where);
            break;
          default:
            assert.fail(`${where}: unexpected ${relocation.kind}`);
        }
        continue;
      }
      assert.deepEqual(program.instructions.slice(at, at + reference.length), reference, where);
      // Our disassembler prints what objdump prints.
      assert.equal(formatInstruction(program.instructions, at, { helperNames: false }), line.text.replace(/ <[^<>]+>$/, ''), `${where}: disassembly`);
    }
  }
  return checked;
}

for (const name of FIXTURES) {
  test(`${name}: linked programs match llvm-objdump instruction by instruction`, { skip }, () => {
    const path = compileBpf(fixturePath('object', `${name}.c`));
    const spec = loadCollectionSpec(path);
    const fns = objdumpFunctions(path);
    assert.ok(Object.keys(spec.programs).length > 0);
    let checked = 0;
    for (const program of Object.values(spec.programs)) {
      checked += checkProgram(spec, program, fns);
      // Every linked function appears once and the entry comes first.
      assert.equal(program.functions[0]!.name, program.name);
      assert.equal(new Set(program.functions.map((f) => f.name)).size, program.functions.length);
      const total = program.functions.reduce((n, f) => n + fns.find((o) => o.name === f.name)!.lines.reduce((s, l) => s + (/ ll$/.test(l.text) ? 2 : 1), 0), 0);
      assert.equal(program.instructions.length, total, `${program.name}: linked length`);
    }
    assert.ok(checked > 0);
  });
}

test('subprograms: each program links exactly the functions it reaches', { skip }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('object', 'subprogs.c')));
  const names = (p: string): string[] => spec.programs[p]!.functions.map((f) => f.name).sort();
  assert.deepEqual(names('first'), ['first', 'global_helper', 'square', 'twice_square']);
  assert.deepEqual(names('second'), ['loop_body', 'second', 'square']);
  assert.deepEqual(names('third'), ['in_section_helper', 'sum_elem', 'tc_local', 'third']);
  // clang folds `unused_helper(1) & 0` away: nothing reaches unused_helper, so no program carries it.
  assert.deepEqual(names('on_openat'), ['global_helper', 'on_openat', 'square', 'twice_square']);
  assert.ok(Object.values(spec.programs).every((p) => p.functions.every((f) => f.name !== 'unused_helper')));
  assert.deepEqual(names('tc_local'), ['tc_local']);
  assert.ok(!('global_helper' in spec.programs), '.text functions are subprograms, not programs');
  const second = spec.programs.second!;
  const callback = second.relocations.find((r) => r.kind === 'callback');
  assert.ok(callback?.kind === 'callback');
  assert.equal(callback.functionName, 'loop_body');
  assert.equal(second.instructions[callback.insnIndex]!.src, 4, 'BPF_PSEUDO_FUNC');
  assert.equal(callback.insnIndex + second.instructions[callback.insnIndex]!.imm + 1, callback.targetIndex);
  // func_info: one record per linked function, at its start.
  for (const program of Object.values(spec.programs)) {
    assert.deepEqual(program.funcInfo.map((f) => f.insnIndex), program.functions.map((f) => f.insnIndex).sort((a, b) => a - b));
    for (const f of program.funcInfo) assert.equal(spec.btf!.typeById(f.typeId).kind, 'func');
    for (const l of program.lineInfo) assert.ok(l.insnIndex < program.instructions.length && l.line > 0 && l.fileName.endsWith('subprogs.c'));
  }
  const squareStart = second.functions.find((f) => f.name === 'square')!.insnIndex;
  const squareLines = second.lineInfo.filter((l) => l.insnIndex >= squareStart).map((l) => l.lineText.trim());
  assert.deepEqual([...new Set(squareLines)], ['static __noinline int square(int x)', 'return x * x;']);
});
