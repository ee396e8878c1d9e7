import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { decode } from '../../src/isa/encoding.ts';
import { OPCODE_CALL, Size } from '../../src/isa/opcodes.ts';
import {
  type Btf,
  type BtfType,
  type CoreReport,
  CoreRelocationError,
  POISON_CALL_IMM,
  applyCoreRelocations,
  createBtf,
  essentialName,
  loadKernelBtf,
  parseBtf,
  parseBtfExt,
  resolveCoreRelocation,
} from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { readElfSections, section } from './elf-sections.ts';

const noVmlinux = existsSync('/sys/kernel/btf/vmlinux') ? false : 'no /sys/kernel/btf/vmlinux';

function loadLocal() {
  const elf = readElfSections(compileBpf(fixturePath('btf', 'core_local.c')));
  const btf = parseBtf(section(elf, '.BTF'));
  const ext = parseBtfExt(section(elf, '.BTF.ext'), btf);
  const relos = ext.coreRelos.get('socket');
  assert.ok(relos && relos.length > 30, 'fixture has CO-RE relocations');
  return { btf, relos, instructions: () => decode(section(elf, 'socket')) };
}

function loadTarget(): Btf {
  return parseBtf(section(readElfSections(compileBpf(fixturePath('btf', 'core_target.c'))), '.BTF'));
}

/** The report entries whose local spec contains `spec`, of `kind`. */
function find(report: CoreReport, kind: string, spec: string) {
  const found = report.entries.filter((e) => e.relocation.kind === kind && e.result.localSpec.includes(spec));
  assert.ok(found.length > 0, `no ${kind} relocation for ${spec}; have:\n${report.entries.map((e) => e.message).join('\n')}`);
  return found;
}

test('essential names drop the ___flavor suffix as libbpf does', () => {
  assert.equal(essentialName('sample___v2'), 'sample');
  assert.equal(essentialName('a___b___c'), 'a___b');
  assert.equal(essentialName('sample'), 'sample');
  assert.equal(essentialName('____x'), '____x');
  assert.equal(essentialName('x____'), 'x____');
  assert.equal(essentialName('x___'), 'x___');
});

test('every relocation kind against a target with other layouts (core_target.c)', { skip: skipWithoutClang() }, () => {
  const { btf: local, relos, instructions } = loadLocal();
  const target = loadTarget();
  const insns = instructions();
  const report = applyCoreRelocations(insns, relos, local, target, { programName: 'core_sample' });
  assert.equal(report.entries.length, relos.length);
  const one = (kind: string, spec: string) => {
    const [e] = find(report, kind, spec);
    return e!;
  };
  // Field offsets: LDX offset, ALU immediate, through arrays and anonymous unions.
  const first = one('field_byte_offset', 'sample.first');
  assert.equal(first.before[0]!.offset, 0);
  assert.equal(insns[first.insnIndex]!.offset, 20);
  assert.equal(insns[one('field_byte_offset', 'sample.pt.y').insnIndex]!.imm, 32);
  assert.equal(insns[one('field_byte_offset', 'sample.pts[2].y').insnIndex]!.imm, 80);
  assert.equal(insns[one('field_byte_offset', 'sample.i').insnIndex]!.offset, 104);
  assert.equal(insns[one('field_byte_size', 'sample.pt ').insnIndex]!.imm, 16);
  // u32 -> unsigned long: offset and load size change.
  const narrow = one('field_byte_offset', 'sample.narrow');
  assert.equal(insns[narrow.insnIndex]!.offset, 128);
  assert.equal(narrow.before[0]!.opcode & 0x18, Size.W);
  assert.equal(insns[narrow.insnIndex]!.opcode & 0x18, Size.DW);
  // Existence, flavors.
  const exists = find(report, 'field_exists', 'sample.gone');
  assert.ok(exists.every((e) => insns[e.insnIndex]!.imm === 0));
  assert.equal(insns[one('field_exists', 'sample___v2.renamed_in_v2').insnIndex]!.imm, 1);
  // Bitfields: b is now 9 bits at bit 67 of struct flags at byte 112; c is 7 signed bits at bit 76.
  const bf = (kind: string, field: string) => find(report, kind, `sample.f.${field}`).map((e) => insns[e.insnIndex]!.imm);
  assert.deepEqual(bf('field_byte_offset', 'b'), [120]);
  assert.deepEqual(bf('field_byte_size', 'b'), [4]);
  assert.deepEqual(bf('field_lshift_u64', 'b'), [64 - (963 + 9 - 960)]);
  assert.deepEqual(bf('field_rshift_u64', 'b'), [55, 55]);
  assert.deepEqual(bf('field_signed', 'b'), [0]);
  assert.deepEqual(bf('field_byte_offset', 'c'), [120]);
  assert.deepEqual(bf('field_lshift_u64', 'c'), [64 - (972 + 7 - 960)]);
  assert.deepEqual(bf('field_rshift_u64', 'c'), [57, 57]);
  assert.ok(bf('field_signed', 'c').every((v) => v === 1));
  // Types.
  const typeValue = (kind: string, spec: string) => one(kind, spec).after;
  assert.equal(typeValue('type_exists', 'point')[0]!.imm, 1);
  assert.equal(typeValue('type_exists', 'missing_t')[0]!.imm, 0);
  assert.equal(typeValue('type_size', 'STRUCT sample')[0]!.imm, 144);
  const localPoint = local.findByName('point', 'struct')[0]!.id;
  assert.equal(typeValue('type_id_local', 'point')[0]!.imm, localPoint);
  assert.equal(typeValue('type_id_target', 'point')[0]!.imm, target.findByName('point', 'struct')[0]!.id);
  assert.equal(typeValue('type_matches', 'point')[0]!.imm, 1);
  // Enums, including a 64-bit value through lddw.
  assert.equal(typeValue('enum_value_exists', 'color::BLUE')[0]!.imm, 1);
  assert.equal(typeValue('enum_value', 'color::BLUE')[0]!.imm, 100);
  assert.equal(typeValue('enum_value_exists', 'color___old::PURPLE')[0]!.imm, 0);
  const wide = typeValue('enum_value', 'wide::WIDE_BIG');
  assert.deepEqual([wide[0]!.imm, wide[1]!.imm], [0, 2]);
  // The load of the missing field is poisoned, and reported.
  const gone = one('field_byte_offset', 'sample.gone');
  assert.ok(gone.result.poison);
  assert.deepEqual(insns[gone.insnIndex], { opcode: OPCODE_CALL, dst: 0, src: 0, offset: 0, imm: POISON_CALL_IMM });
  assert.match(gone.message, /core_sample.*insn \d+: field_byte_offset .*sample\.gone.*poisoned: none of the 1 target candidate/);
  // No task_struct in this target: reads are poisoned, existence is 0.
  const taskReads = find(report, 'field_byte_offset', 'task_struct');
  assert.ok(taskReads.every((e) => e.result.poison && insns[e.insnIndex]!.imm === POISON_CALL_IMM));
  assert.match(taskReads[0]!.message, /no struct named 'task_struct' in the target BTF/);
  assert.equal(insns[one('field_exists', 'task_struct.no_such_field_in_any_kernel').insnIndex]!.imm, 0);
  assert.deepEqual(report.poisoned.map((e) => e.insnIndex).sort(), report.entries.filter((e) => e.result.poison).map((e) => e.insnIndex).sort());
});

test('relocations against the running kernel agree with its task_struct layout', { skip: skipWithoutClang() || noVmlinux }, () => {
  const { btf: local, relos, instructions } = loadLocal();
  const kernel = loadKernelBtf();
  const insns = instructions();
  const report = applyCoreRelocations(insns, relos, local, kernel);
  const task = kernel.findByName('task_struct', 'struct')[0]!;
  assert.ok(task.kind === 'struct');
  const offsetOf = (name: string) => task.members.find((m) => m.name === name)!.bitOffset / 8;
  const value = (kind: string, spec: string) => find(report, kind, spec).map((e) => insns[e.insnIndex]!.imm);
  assert.deepEqual(value('field_byte_offset', 'task_struct.real_parent'), [offsetOf('real_parent')]);
  assert.deepEqual(value('field_byte_offset', 'task_struct.tgid'), [offsetOf('tgid')]);
  assert.deepEqual(value('field_byte_offset', 'task_struct.comm[3]'), [offsetOf('comm') + 3]);
  assert.deepEqual(value('field_exists', 'no_such_field_in_any_kernel'), [0]);
  assert.deepEqual(value('field_byte_size', 'task_struct.flags'), [4]);
  const parent = find(report, 'field_byte_offset', 'task_struct.real_parent')[0]!;
  assert.equal(parent.result.targetTypeId, task.id);
  assert.match(parent.message, /=> \[\d+\] STRUCT task_struct\.real_parent/);
});

/** Minimal local/target pairs for the error paths. */
function pointBtf(names: string[], yOffsets: number[]): Btf {
  const types: BtfType[] = [{ id: 1, kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 }];
  names.forEach((name, i) => {
    types.push({ id: types.length + 1, kind: 'struct', name, size: 16, bitfieldEncoding: false, members: [
      { name: 'x', type: 1, bitOffset: 0, bitSize: 0 },
      { name: 'y', type: 1, bitOffset: yOffsets[i]! * 8, bitSize: 0 },
    ] });
  });
  return createBtf(types);
}

test('candidates must agree; equal candidates are fine', () => {
  const local = pointBtf(['point'], [4]);
  const relo = { insnIndex: 0, typeId: 2, accessString: '0:1', kind: 'field_byte_offset' as const };
  const agreeing = resolveCoreRelocation(relo, local, pointBtf(['point', 'point___dup'], [8, 8]));
  assert.equal(agreeing.targetValue, 8n);
  assert.equal(agreeing.matches, 2);
  assert.throws(() => resolveCoreRelocation(relo, local, pointBtf(['point', 'point___other'], [8, 12])), (err: unknown) => err instanceof CoreRelocationError && /ambiguity/.test(err.message));
});

test('patching validates the instruction against the local value and the access string against the type', () => {
  const local = pointBtf(['point'], [4]);
  const target = pointBtf(['point'], [8]);
  const relo = { insnIndex: 0, typeId: 2, accessString: '0:1', kind: 'field_byte_offset' as const };
  const ok = [{ opcode: 0x61, dst: 1, src: 2, offset: 4, imm: 0 }];
  applyCoreRelocations(ok, [relo], local, target);
  assert.equal(ok[0]!.offset, 8);
  const wrong = [{ opcode: 0x61, dst: 1, src: 2, offset: 6, imm: 0 }];
  assert.throws(() => applyCoreRelocations(wrong, [relo], local, target, { programName: 'p' }), /program 'p': CO-RE relocation #0 \(field_byte_offset\) at instruction 0 .*unexpected offset 6, expected 4/);
  assert.throws(() => applyCoreRelocations(ok, [{ ...relo, accessString: '0:7' }], local, target), /member index 7 is out of range/);
  assert.throws(() => applyCoreRelocations(ok, [{ ...relo, insnIndex: 5 }], local, target), /instruction index out of range/);
  const reg = [{ opcode: 0x0f, dst: 1, src: 2, offset: 0, imm: 4 }];
  assert.throws(() => applyCoreRelocations(reg, [relo], local, target), /does not use an immediate/);
});
