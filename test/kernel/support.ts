/**
 * Shared pieces of the kernel tests: small hand-assembled programs and a
 * leak check comparing the kernel's program/map/link ids before and after a
 * test file.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { AtomicOp, JmpOp, LdImm64Src, Size } from '../../src/isa/opcodes.ts';
import {
  type Instruction,
  atomic,
  callHelper,
  exit,
  jmpImm,
  lddw,
  mov64Imm,
  mov64Reg,
  alu64Imm,
  st,
} from '../../src/isa/instruction.ts';
import { AluOp } from '../../src/isa/opcodes.ts';
import { listIds } from '../../src/kernel/info.ts';
import { openFdCount } from '../../src/kernel/fd.ts';
import type { KernelMap } from '../../src/kernel/map.ts';
import { skipWithoutKernel } from '../support/env.ts';

const BPF_FUNC_map_lookup_elem = 1;

/** Instructions adding `amount` to the u64 at `map[key]` of an array/hash map with u32 keys; leaves r0 untouched afterwards (set by caller). */
export function incrementMapSlot(map: KernelMap, key: number, amount = 1): Instruction[] {
  return [
    st(Size.W, 10, -4, key),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    ...lddw(1, map.fd, LdImm64Src.MAP_FD),
    callHelper(BPF_FUNC_map_lookup_elem),
    jmpImm(JmpOp.JEQ, 0, 0, 2),
    mov64Imm(1, amount),
    atomic(Size.DW, AtomicOp.ADD, 0, 0, 1),
  ];
}

/** A program body that counts into map[key] and returns `retval`. */
export function countingProgram(map: KernelMap, key: number, retval: number): Instruction[] {
  return [...incrementMapSlot(map, key), mov64Imm(0, retval), exit()];
}

export const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
export const u64 = (n: bigint | number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
export const readU64 = (bytes: Uint8Array | undefined): bigint => {
  assert.ok(bytes, 'expected a value');
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
};

async function waitForIds(kind: 'prog' | 'map' | 'link', baseline: Set<number>): Promise<number[]> {
  // The kernel frees objects after an RCU grace period: give it a moment.
  let extra: number[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    extra = listIds(kind).filter((id) => !baseline.has(id));
    if (extra.length === 0) return extra;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return extra;
}

/**
 * Registers before/after hooks on the current test file: after all tests,
 * no program, map or link created during the file may remain in the kernel
 * and no fd may remain open.
 */
export function checkNoKernelLeaks(): void {
  if (skipWithoutKernel() !== false) return;
  const baseline = { prog: new Set<number>(), map: new Set<number>(), link: new Set<number>() };
  before(() => {
    for (const kind of ['prog', 'map', 'link'] as const) baseline[kind] = new Set(listIds(kind));
  });
  after(async () => {
    assert.equal(openFdCount(), 0, 'every fd the tests created must be closed');
    for (const kind of ['link', 'prog', 'map'] as const) {
      assert.deepEqual(await waitForIds(kind, baseline[kind]), [], `${kind} objects left in the kernel`);
    }
  });
}

const BPF_FUNC_get_current_pid_tgid = 14;

/** Wraps `body` (which must leave r0 free to clobber and fall through) so it only runs for process `pid`; the program returns 0. */
export function onlyInProcess(pid: number, body: Instruction[]): Instruction[] {
  return [
    mov64Reg(6, 1), // keep ctx
    callHelper(BPF_FUNC_get_current_pid_tgid),
    alu64Imm(AluOp.RSH, 0, 32),
    jmpImm(JmpOp.JNE, 0, pid, body.length),
    ...body,
    mov64Imm(0, 0),
    exit(),
  ];
}
