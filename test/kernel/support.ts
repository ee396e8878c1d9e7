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
import { linkInfo, listIds, mapInfo, programInfo } from '../../src/kernel/info.ts';
import { observeCreations, openFdCount } from '../../src/kernel/fd.ts';
import { KernelMap } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { KernelLink } from '../../src/kernel/link.ts';
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

/**
 * Registers before/after hooks on the current test file: every program, map
 * and link this process creates during the file must be gone from the
 * kernel after it, and no fd may remain open. Ids are recorded at creation,
 * so test files running in parallel do not disturb the check.
 */
export function checkNoKernelLeaks(): void {
  if (skipWithoutKernel() !== false) return;
  const created: Array<{ kind: 'prog' | 'map' | 'link'; id: number }> = [];
  let unsubscribe: (() => void) | undefined;
  before(() => {
    unsubscribe = observeCreations((resource, fd) => {
      if (resource instanceof KernelProgram) created.push({ kind: 'prog', id: programInfo(fd).id });
      else if (resource instanceof KernelMap) created.push({ kind: 'map', id: mapInfo(fd).id });
      else if (resource instanceof KernelLink) created.push({ kind: 'link', id: linkInfo(fd).id });
    });
  });
  after(async () => {
    unsubscribe?.();
    assert.equal(openFdCount(), 0, 'every fd the tests created must be closed');
    // The kernel frees objects after an RCU grace period: give it a moment.
    let left: typeof created = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      const live = { prog: new Set(listIds('prog')), map: new Set(listIds('map')), link: new Set(listIds('link')) };
      left = created.filter(({ kind, id }) => live[kind].has(id));
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(left, [], 'objects created by this file are still in the kernel');
    // A run narrowed by name (--test-name-pattern, --test-only) may have skipped every test that creates something.
    const narrowed = process.execArgv.some((arg) => arg.startsWith('--test-name-pattern') || arg.startsWith('--test-skip-pattern') || arg === '--test-only');
    if (!narrowed) assert.ok(created.length > 0, 'the leak check saw the objects the tests created');
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
