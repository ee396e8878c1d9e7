// Per-run overhead of VmProgram.run (src/vm/runtime.ts): wall time of one
// `run({ data })` call for a small packet program, XDP and tc (sched_cls),
// on 64- and 1500-byte frames, interpreter and JIT, against the bare engine
// run of the same program in the same process (`vm.load(...).run` /
// `loadJit(...).run` with r1 pointing at a prebuilt context whose data and
// data_end words hold the packet's VM addresses). The difference is what
// VmProgram.run adds per packet: packet and context set-up, result copy.
// As root, the kernel's BPF_PROG_TEST_RUN wall time per call (one syscall,
// repeat 1, measured around the call) is a second reference.
//
//   node --import tsx bench/vm-run.ts
import assert from 'node:assert/strict';
import { buildPacket, ethernet, ipv4, payload, udp } from '../src/net/index.ts';
import { type Instruction, assemble } from '../src/isa/index.ts';
import { ProgramType } from '../src/uapi/enums.ts';
import { CONTEXT_LAYOUTS } from '../src/uapi/program-types.ts';
import { Vm } from '../src/vm/index.ts';
import { loadJit } from '../src/vm/jit/index.ts';
import type { LoadedProgram } from '../src/vm/program.ts';
import { VmProgram } from '../src/vm/runtime.ts';

/** examples/xdp-drop-udp.s, parameterised by where the context keeps data/data_end and the two verdicts. */
function dropUdp(dataOffset: number, dataEndOffset: number, drop: number, pass: number): Instruction[] {
  return assemble(`
    r2 = *(u32 *)(r1 + ${dataEndOffset})
    r1 = *(u32 *)(r1 + ${dataOffset})
    r3 = r1
    r3 += 42
    if r3 > r2 goto pass
    r4 = *(u16 *)(r1 + 12)
    if r4 != 0x8 goto pass
    r4 = *(u8 *)(r1 + 14)
    r4 &= 0xf
    if r4 != 5 goto pass
    r4 = *(u8 *)(r1 + 23)
    if r4 != 17 goto pass
    r4 = *(u16 *)(r1 + 36)
    if r4 != 0x900 goto pass
    r0 = ${drop}
    exit
pass:
    r0 = ${pass}
    exit
`);
}

const offsetOf = (fields: readonly { name: string; offset: number }[], name: string): number => fields.find((f) => f.name === name)!.offset;
const XDP_MD = CONTEXT_LAYOUTS.xdp_md;
const SKB = CONTEXT_LAYOUTS.__sk_buff;

interface Case {
  name: string;
  type: number;
  instructions: Instruction[];
  contextSize: number;
  dataOffset: number;
  dataEndOffset: number;
}

const CASES: Case[] = [
  { name: 'xdp', type: ProgramType.XDP, instructions: dropUdp(offsetOf(XDP_MD.fields, 'data'), offsetOf(XDP_MD.fields, 'data_end'), 1, 2), contextSize: XDP_MD.size, dataOffset: offsetOf(XDP_MD.fields, 'data'), dataEndOffset: offsetOf(XDP_MD.fields, 'data_end') },
  { name: 'tc', type: ProgramType.SCHED_CLS, instructions: dropUdp(offsetOf(SKB.fields, 'data'), offsetOf(SKB.fields, 'data_end'), 2, 0), contextSize: SKB.size, dataOffset: offsetOf(SKB.fields, 'data'), dataEndOffset: offsetOf(SKB.fields, 'data_end') },
];

/** An Ethernet + IPv4 + UDP frame of `length` bytes to port 80 (the program passes it after the whole parse). */
function udpFrame(length: number): Uint8Array {
  return buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 12345, dport: 80 }), payload(Uint8Array.from({ length: length - 42 }, (_, i) => (i * 7) & 0xff)));
}

/** ns per call of `body`: the median of 7 samples, each long enough (~40 ms) to swamp timer noise. */
function measure(body: () => void): number {
  let n = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) body();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns > 40e6) break;
    n = ns < 1e6 ? n * 10 : Math.ceil((n * 40e6) / ns);
  }
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) body();
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[3]!;
}

/** The bare engine run: the program on a prebuilt context and packet, nothing else per call. */
function bareRun(c: Case, frame: Uint8Array, jit: boolean): { ns: number; r0: bigint } {
  const vm = new Vm();
  const packet = vm.memory.allocateRegion(frame.length, 'packet', 'packet');
  vm.memory.u8.set(frame, packet.start);
  const ctx = vm.memory.allocateRegion(c.contextSize, 'context', 'context', false);
  vm.memory.view.setUint32(ctx.start + c.dataOffset, packet.start, true);
  vm.memory.view.setUint32(ctx.start + c.dataEndOffset, packet.start + packet.size, true);
  const program: LoadedProgram = jit ? loadJit(vm, c.instructions) : vm.load(c.instructions);
  const options = { r1: ctx.start };
  const r0 = program.run(options).r0;
  return { ns: measure(() => program.run(options)), r0 };
}

function vmProgramRun(c: Case, frame: Uint8Array, jit: boolean): { ns: number; retval: number } {
  const program = new VmProgram(c.type, c.instructions, { jit });
  const options = { data: frame };
  const retval = program.run(options).retval;
  const ns = measure(() => program.run(options));
  program.close();
  return { ns, retval };
}

interface KernelRunner {
  run(c: Case, frame: Uint8Array): { ns: number; retval: number };
}

async function kernelRunner(): Promise<KernelRunner | string> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not root on Linux';
  try {
    const { KernelProgram } = await import('../src/kernel/program.ts');
    return {
      run(c, frame) {
        const program = KernelProgram.load({ type: c.type, instructions: c.instructions, name: 'bench' });
        try {
          const options = { data: frame };
          const retval = program.run(options).retval;
          return { ns: measure(() => program.run(options)), retval };
        } finally {
          program.close();
        }
      },
    };
  } catch (error) {
    return (error as Error).message;
  }
}

const kernel = await kernelRunner();
if (typeof kernel === 'string') console.log(`kernel column skipped: ${kernel}`);
const pad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`${'case'.padEnd(22)}${pad('bare ns', 10)}${pad('run() ns', 10)}${pad('ratio', 8)}${pad('overhead', 10)}${pad('kernel ns', 11)}`);
for (const c of CASES) {
  for (const size of [64, 1500]) {
    const frame = udpFrame(size);
    const k = typeof kernel === 'string' ? undefined : kernel.run(c, frame);
    for (const jit of [false, true]) {
      const bare = bareRun(c, frame, jit);
      const full = vmProgramRun(c, frame, jit);
      assert.equal(BigInt(full.retval), bare.r0, `${c.name}: VmProgram.run and the bare run disagree`);
      if (k !== undefined) assert.equal(full.retval, k.retval, `${c.name}: VM and kernel disagree`);
      const label = `${c.name} ${size}B ${jit ? 'jit' : 'interp'}`;
      console.log(`${label.padEnd(22)}${pad(bare.ns.toFixed(0), 10)}${pad(full.ns.toFixed(0), 10)}${pad((full.ns / bare.ns).toFixed(1), 8)}${pad((full.ns - bare.ns).toFixed(0), 10)}${pad(k === undefined ? '-' : k.ns.toFixed(0), 11)}`);
    }
  }
}
