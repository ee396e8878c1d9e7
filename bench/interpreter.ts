// Interpreter speed in ns per executed BPF instruction on three loops, each
// next to plain JavaScript doing the same computation in the same process
// (and checked to compute the same result). For scale: uBPF's C
// interpreter runs at about 5 ns/instruction on the reference machine.
//
//   node --import tsx bench/interpreter.ts
import assert from 'node:assert/strict';
import { assemble } from '../src/isa/index.ts';
import { Vm } from '../src/vm/index.ts';

interface Case {
  name: string;
  source: string;
  mem?: Uint8Array;
  /** The same work in plain JS; returns r0. */
  baseline: (mem: Uint8Array | undefined) => number;
}

const ITERATIONS = 20_000;
const BUFFER = 4096;

const cases: Case[] = [
  {
    name: 'alu (xorshift32 + sum, 32-bit ops)',
    source: `
      mov32 %r0, 1
      mov32 %r3, 0
      mov %r1, ${ITERATIONS}
    loop:
      mov32 %r2, %r0
      lsh32 %r2, 13
      xor32 %r0, %r2
      mov32 %r2, %r0
      rsh32 %r2, 17
      xor32 %r0, %r2
      mov32 %r2, %r0
      lsh32 %r2, 5
      xor32 %r0, %r2
      add32 %r3, %r0
      sub %r1, 1
      jne %r1, 0, loop
      mov32 %r0, %r3
      exit`,
    baseline: () => {
      let x = 1;
      let sum = 0;
      for (let i = ITERATIONS; i !== 0; i--) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        sum = (sum + x) | 0;
      }
      return sum >>> 0;
    },
  },
  {
    name: 'memory (load, add, store over 4 KiB, 8 passes)',
    source: `
      mov %r0, 0
      mov %r6, 8
    pass:
      mov %r3, %r1
      mov %r4, %r1
      add %r4, %r2
    word:
      ldxw %r5, [%r3]
      add32 %r0, %r5
      add32 %r5, 1
      stxw [%r3], %r5
      add %r3, 4
      jlt %r3, %r4, word
      sub %r6, 1
      jne %r6, 0, pass
      exit`,
    mem: new Uint8Array(BUFFER),
    baseline: (mem) => {
      const view = new DataView(mem!.buffer, mem!.byteOffset, mem!.byteLength);
      let sum = 0;
      for (let pass = 8; pass !== 0; pass--) {
        for (let at = 0; at < view.byteLength; at += 4) {
          const v = view.getUint32(at, true);
          sum = (sum + v) | 0;
          view.setUint32(at, (v + 1) >>> 0, true);
        }
      }
      return sum >>> 0;
    },
  },
  {
    name: 'branchy (Collatz steps of 1..1000, 64-bit)',
    source: `
      mov %r6, 1
      mov %r7, 0
    outer:
      mov %r1, %r6
    inner:
      jeq %r1, 1, next
      jset %r1, 1, odd
      rsh %r1, 1
      add %r7, 1
      ja inner
    odd:
      mul %r1, 3
      add %r1, 1
      add %r7, 1
      ja inner
    next:
      add %r6, 1
      jle %r6, 1000, outer
      mov %r0, %r7
      exit`,
    baseline: () => {
      let steps = 0;
      for (let n = 1; n <= 1000; n++) {
        let x = n;
        while (x !== 1) {
          x = x % 2 === 1 ? 3 * x + 1 : x / 2;
          steps++;
        }
      }
      return steps;
    },
  },
];

function best(repeat: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0));
  }
  return min;
}

const vm = new Vm();
const programs = cases.map((c) => vm.load(assemble(c.source, { syntax: 'ubpf' }), { name: c.name }));
// Warm up on every case first: they share one dispatch loop, whose optimized
// code should be measured once it has seen every instruction kind.
for (let round = 0; round < 5; round++) programs.forEach((p, i) => p.run({ mem: cases[i]!.mem?.slice() }));
console.log('interpreter: ns per BPF instruction (best of 50), and time relative to plain JS doing the same work');
for (const [i, c] of cases.entries()) {
  const program = programs[i]!;
  const fresh = (): Uint8Array | undefined => c.mem?.slice();
  // Same answer from both, on fresh memory.
  const first = program.run({ mem: fresh() });
  assert.equal(first.r0, BigInt(c.baseline(fresh())), `${c.name}: interpreter and baseline disagree`);
  const insns = first.instructions;
  const vmMem = fresh();
  const jsMem = fresh();
  const vmNs = best(50, () => program.run({ mem: vmMem }));
  const jsNs = best(50, () => c.baseline(jsMem));
  const perInsn = vmNs / insns;
  console.log(
    `  ${c.name.padEnd(48)} ${insns.toString().padStart(10)} insns  ${perInsn.toFixed(2).padStart(6)} ns/insn  ` +
      `${(vmNs / 1e6).toFixed(1).padStart(7)} ms vs JS ${(jsNs / 1e6).toFixed(2).padStart(6)} ms  (${(vmNs / jsNs).toFixed(1)}x)`,
  );
}
