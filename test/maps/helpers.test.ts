import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vm } from '../../src/vm/vm.ts';
import { HelperRegistry, standardHelpers } from '../../src/vm/helper-registry.ts';
import { AluOp, JmpOp, Size } from '../../src/isa/opcodes.ts';
import { alu64Imm, callHelper, exit, jmpImm, ldx, lddw, mov64Imm, mov64Reg, st, stx, type Instruction } from '../../src/isa/instruction.ts';
import { helperByName } from '../../src/uapi/helpers.ts';
import { registerMapHelpers } from '../../src/maps/helpers.ts';
import { HashMap } from '../../src/maps/hash.ts';
import { ReferenceArrayMap } from '../../src/maps/array.ts';
import { RingBufMap, VmRingBufferReader } from '../../src/maps/ringbuf.ts';
import { MapType } from '../../src/uapi/enums.ts';
import type { LoadedProgram } from '../../src/vm/program.ts';
import { u32, u64 } from './support.ts';

const call = (name: string): Instruction => callHelper(helperByName(name)!.id);

function vmWithMapHelpers(): Vm {
  return new Vm({ helpers: registerMapHelpers(new HelperRegistry(standardHelpers)) });
}

test('a program counts into a hash map through map_lookup_elem/map_update_elem', () => {
  const vm = vmWithMapHelpers();
  const counts = new HashMap(vm.memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, name: 'counts' });
  const program = vm.load([
    st(Size.W, 10, -4, 7), // key = 7
    ...lddw(1, counts.handle),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    call('map_lookup_elem'),
    jmpImm(JmpOp.JEQ, 0, 0, 5),
    ldx(Size.DW, 1, 0, 0),
    alu64Imm(AluOp.ADD, 1, 1),
    stx(Size.DW, 0, 0, 1),
    mov64Imm(0, 0),
    exit(),
    st(Size.DW, 10, -16, 1), // value = 1
    ...lddw(1, counts.handle),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    mov64Reg(3, 10),
    alu64Imm(AluOp.ADD, 3, -16),
    mov64Imm(4, 0),
    call('map_update_elem'),
    exit(),
  ]);
  for (let i = 0; i < 5; i++) assert.equal(program.run().r0, 0n);
  assert.deepEqual(counts.lookup(u32(7)), u64(5n));
});

test('ringbuf_output from a program reaches the reader; tail_call jumps through a prog array', () => {
  const vm = vmWithMapHelpers();
  const events = new RingBufMap(vm.memory, { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const target = vm.load([
    st(Size.DW, 10, -8, 0x2a),
    ...lddw(1, events.handle),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -8),
    mov64Imm(3, 8),
    mov64Imm(4, 0),
    call('ringbuf_output'),
    exit(),
  ]);
  const programs = new ReferenceArrayMap<LoadedProgram>(vm.memory, { type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });
  programs.set(1, 1, target);
  const entry = vm.load([...lddw(2, programs.handle), mov64Imm(3, 1), call('tail_call'), mov64Imm(0, 99), exit()]);
  const result = entry.run();
  assert.equal(result.r0, 0n);
  assert.equal(result.tailCalls, 1);
  const records: Uint8Array[] = [];
  new VmRingBufferReader(events).poll((r) => records.push(r.slice()));
  assert.deepEqual(records, [u64(0x2an)]);
  // An empty slot: the tail call falls through.
  const fallthrough = vm.load([...lddw(2, programs.handle), mov64Imm(3, 0), call('tail_call'), mov64Imm(0, 99), exit()]);
  assert.equal(fallthrough.run().r0, 99n);
});
