// Scalar tracking micro-benchmark: ns per scalarAlu and per refineBranch on
// the values a verifier meets (constants, masked unknowns, full unknowns),
// beside the kernel's own cost per processed instruction for a program made
// of the same operations (load time / verified instructions, log off).
// CPU time (process.cpuUsage), not wall time, so that other load on the machine does not count.
// Run: node --import tsx bench/verifier-scalar.ts
import { AluOp, JmpOp } from '../src/isa/opcodes.ts';
import { type Instruction, alu64Imm, alu64Reg, callHelper, exit, jmpImm, mov64Imm } from '../src/isa/instruction.ts';
import { KernelProgram } from '../src/kernel/program.ts';
import { ProgramType } from '../src/uapi/enums.ts';
import { type Scalar, SCALAR_UNKNOWN, refineBranch, scalarAlu, scalarConst, scalarFromRange } from '../src/verifier/scalar.ts';

const values: Scalar[] = [
  scalarConst(0n), scalarConst(14n), scalarConst(0xffff_ffffn), scalarConst(-8n),
  scalarFromRange(0n, 255n), scalarFromRange(14n, 1514n), scalarFromRange(0n, 0xffff_ffffn), SCALAR_UNKNOWN,
];
const aluOps = [AluOp.ADD, AluOp.SUB, AluOp.AND, AluOp.OR, AluOp.LSH, AluOp.RSH, AluOp.MUL, AluOp.XOR];
const jmpOps = [JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JEQ, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSLE, JmpOp.JSET];
const shiftAmounts = [scalarConst(3n), scalarConst(8n)];

function measure(what: string, rounds: number, body: () => number): number {
  // Warm-up until V8 has optimised the operations (a single call measured the interpreter in half the rounds).
  for (let i = 0; i < 300; i++) body();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    const count = body();
    const used = process.cpuUsage(t0);
    times.push(((used.user + used.system) * 1000) / count);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${what}: median ${median.toFixed(0)} ns/op CPU time (best ${times[0]!.toFixed(0)}) over ${rounds} rounds`);
  return median;
}

let sink = 0;
const aluNs = measure('scalarAlu (8 ops x 8x8 operand pairs, 64- and 32-bit)', 101, () => {
  let n = 0;
  for (let repeat = 0; repeat < 4; repeat++) for (const op of aluOps) {
    for (const a of values) {
      for (const b of values) {
        const src = op === AluOp.LSH || op === AluOp.RSH ? shiftAmounts[n & 1]! : b;
        sink += scalarAlu(op, a, src, (n & 3) === 0).u32max;
        n++;
      }
    }
  }
  return n;
});
const constNs = measure('scalarAlu on constants (fast path)', 101, () => {
  let n = 0;
  for (const op of aluOps) {
    for (let i = 0; i < 64; i++) {
      sink += scalarAlu(op, values[i & 3]!, shiftAmounts[i & 1]!, false).u32max;
      n++;
    }
  }
  return n;
});
const refineNs = measure('refineBranch (8 ops x 8x8 pairs, both outcomes)', 101, () => {
  let n = 0;
  for (let repeat = 0; repeat < 4; repeat++) for (const op of jmpOps) {
    for (const a of values) {
      for (const b of values) {
        sink += refineBranch(a, b, op, (n & 3) === 0, (n & 1) === 0)?.a.u32max ?? 0;
        n++;
      }
    }
  }
  return n;
});

/** The kernel's cost per verified instruction for a straight-line program of the same ALU operations and branches. */
function kernelNsPerInsn(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const body: Instruction[] = [callHelper(7), alu64Imm(AluOp.AND, 0, 0xfff), mov64Imm(1, 0), alu64Reg(AluOp.OR, 1, 0)];
  for (let i = 0; i < 2000; i++) {
    body.push(alu64Imm(aluOps[i % aluOps.length]! === AluOp.MUL ? AluOp.ADD : aluOps[i % aluOps.length]!, 1, (i % 7) + 1));
    if (i % 4 === 0) body.push(jmpImm(JmpOp.JGT, 1, 1 << 30, 0));
  }
  body.push(mov64Imm(0, 0), exit());
  const times: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = process.cpuUsage();
    const program = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: body, license: 'GPL' });
    const used = process.cpuUsage(t0);
    times.push(((used.user + used.system) * 1000) / body.length);
    program.close();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const kernel = kernelNsPerInsn();
if (kernel === undefined) {
  console.log('kernel reference skipped (needs root and bpf())');
} else {
  console.log(`kernel: ${kernel.toFixed(0)} ns per verified instruction (CPU time of bpf(PROG_LOAD) of a 2.5k-instruction ALU/branch program, median of 15)`);
  console.log(`ratio scalarAlu / kernel insn: ${(aluNs / kernel).toFixed(2)}x, constants ${(constNs / kernel).toFixed(2)}x, refineBranch ${(refineNs / kernel).toFixed(2)}x`);
}
if (sink === 0.5) console.log(sink);
