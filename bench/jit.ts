// JIT benchmark: each program runs in the Linux kernel (BPF_PROG_TEST_RUN
// with `repeat`, the kernel's own duration), in the interpreter and in the
// JIT (checked, and unchecked when tsbpf's verifier accepts the program and
// proves its accesses in bounds, as loadVmCollection does by default), in
// the same process. Prints ns per run, the ratio to the
// kernel and the geometric mean of the ratios; and the compile time in
// microseconds per instruction.
//
//   node --import tsx bench/jit.ts            (as root for the kernel column)
//
// All programs are XDP programs (verifier-valid), so the same bytecode runs
// in both backends: the VM gets an xdp_md-shaped context whose data and
// data_end words hold the packet's VM addresses.
import assert from 'node:assert/strict';
import { type Instruction, LdImm64Src, assemble } from '../src/isa/index.ts';
import { HelperRegistry, Vm, standardHelpers } from '../src/vm/index.ts';
import { loadJit } from '../src/vm/jit/index.ts';
import { verify } from '../src/verifier/index.ts';
import type { JitProgram, JitStats } from '../src/vm/jit/index.ts';
import { Rng, randomProgram } from '../test/jit/fuzz.ts';
import { ArrayMap } from '../src/maps/array.ts';
import { HashMap } from '../src/maps/hash.ts';
import { type VmMap, vmMapByHandle } from '../src/maps/base.ts';
import { MapType, ProgramType } from '../src/uapi/enums.ts';
import { type FunctionBody, I32, I64, ModuleBuilder, Op, type ValType } from '../src/vm/jit/wasm.ts';

const MAP_LOOKUP = 1;
import { type Case, calibrate, cases, u32, u64, withMaps } from './support/programs.ts';

interface KernelSide {
  run(insns: Instruction[], c: Case): { ns: number; retval: number } | string;
}

async function kernelSide(): Promise<KernelSide | string> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not root on Linux';
  try {
    const { KernelProgram } = await import('../src/kernel/program.ts');
    const { KernelMap } = await import('../src/kernel/map.ts');
    return {
      run(insns, c) {
        const maps = (c.maps ?? []).map((m) => {
          const map = KernelMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name });
          for (const [k, v] of m.fill) map.update(u32(k), u64(v));
          return map;
        });
        try {
          const program = KernelProgram.load({ type: ProgramType.XDP, instructions: withMaps(insns, c.maps, (k) => [LdImm64Src.MAP_FD, maps[k]!.fd]), name: 'bench' });
          try {
            let retval = 0;
            const ns = calibrate((repeat) => {
              const r = program.run({ data: c.packet, repeat });
              retval = r.retval;
              return r.durationNs;
            });
            return { ns, retval };
          } finally {
            program.close();
          }
        } catch (err) {
          return (err as Error).message.split('\n')[0]!;
        } finally {
          for (const m of maps) m.close();
        }
      },
    };
  } catch (err) {
    return `kernel backend unavailable: ${(err as Error).message}`;
  }
}

function vmSide(insns: Instruction[], c: Case): { interpreter: number; checked: number; unchecked: number; r0: number; compileUsPerInsn: number } {
  const helpers = new HelperRegistry(standardHelpers);
  if (!standardHelpers.helper(MAP_LOOKUP)) {
    // Until the VM's map helpers land: bpf_map_lookup_elem over src/maps.
    helpers.register(MAP_LOOKUP, (call) => {
      const map: VmMap | undefined = vmMapByHandle(call.memory, call.argU32(1));
      if (map === undefined) return 0;
      return map.lookupElem(call.pointer(2, map.keySize, false), 0);
    });
  }
  const vm = new Vm({ helpers, budget: 0 });
  const maps = (c.maps ?? []).map((m) => {
    const map = m.type === MapType.ARRAY ? new ArrayMap(vm.memory, m) : new HashMap(vm.memory, { ...m, seed: 0 });
    for (const [k, v] of m.fill) map.update(u32(k), u64(v));
    return map;
  });
  const program = withMaps(insns, c.maps, (k) => [0, maps[k]!.handle]);
  const packet = vm.memory.allocateRegion(c.packet.length, 'packet', 'packet');
  vm.memory.u8.set(c.packet, packet.start);
  const ctx = vm.memory.allocateRegion(24, 'context', 'xdp_md', false);
  vm.memory.view.setUint32(ctx.start, packet.start, true);
  vm.memory.view.setUint32(ctx.start + 4, packet.start + packet.size, true);
  const options = { r1: ctx.start };

  const interpreted = vm.load(program);
  const expected = interpreted.run(options).r0;
  const interpreter = calibrate((repeat) => {
    const t0 = performance.now();
    for (let k = 0; k < repeat; k++) interpreted.run(options);
    return ((performance.now() - t0) * 1e6) / repeat;
  }, 4, 10);
  let compileUs = 0;
  const jitTime = (checked: boolean): number => {
    const t0 = performance.now();
    const jit: JitProgram = loadJit(vm, program, { checked });
    compileUs = ((performance.now() - t0) * 1000) / program.length;
    if (checked) compileStats.push(jit.stats);
    assert.equal(jit.run(options).r0, expected, `${c.name}: JIT (checked=${checked}) disagrees with the interpreter`);
    return calibrate((repeat) => jit.runRepeated(options, repeat).nsPerRun);
  };
  const checked = jitTime(true);
  // Unchecked only as loadVmCollection would run it: verified, with every access bounded.
  const mapsByFd = new Map((c.maps ?? []).map((m, k) => [k, { ...m, flags: 0, pinning: 'none' as const, contents: [], readOnly: false, frozen: false, section: '.maps' }]));
  const verdict = verify(withMaps(insns, c.maps, (k) => [LdImm64Src.MAP_FD, k]), { type: ProgramType.XDP, mapsByFd: mapsByFd as never, logLevel: 0 });
  if (!verdict.accepted || !verdict.boundsProven) throw new Error(`${c.name}: tsbpf's verifier ${verdict.accepted ? 'could not bound every access' : `rejects it: ${verdict.error?.message}`}`);
  const unchecked = jitTime(false);
  return { interpreter, checked, unchecked, r0: Number(expected & 0xffffffffn), compileUsPerInsn: compileUs };
}

const fmt = (ns: number): string => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const geomean = (xs: number[]): number => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

const compileStats: JitStats[] = [];
const kernel = await kernelSide();
if (typeof kernel === 'string') console.log(`kernel column skipped: ${kernel}`);
const rows: string[][] = [['program', 'kernel', 'interpreter', 'JIT checked', 'JIT unchecked', 'checked/kernel', 'unchecked/kernel']];
const ratiosChecked: number[] = [];
const ratiosUnchecked: number[] = [];
const compile: number[] = [];
for (const c of cases) {
  const insns = assemble(c.source, { syntax: 'ubpf' });
  const vm = vmSide(insns, c);
  compile.push(vm.compileUsPerInsn);
  let kernelCell = '-';
  let rc = '-';
  let ru = '-';
  if (typeof kernel !== 'string') {
    const k = kernel.run(insns, c);
    if (typeof k === 'string') kernelCell = `(${k})`;
    else {
      assert.equal(k.retval >>> 0, vm.r0 >>> 0, `${c.name}: kernel returned ${k.retval}, the VM ${vm.r0}`);
      kernelCell = fmt(k.ns);
      ratiosChecked.push(vm.checked / k.ns);
      ratiosUnchecked.push(vm.unchecked / k.ns);
      rc = `${(vm.checked / k.ns).toFixed(2)}x`;
      ru = `${(vm.unchecked / k.ns).toFixed(2)}x`;
    }
  }
  rows.push([c.name, kernelCell, fmt(vm.interpreter), fmt(vm.checked), fmt(vm.unchecked), rc, ru]);
}
if (ratiosChecked.length > 0) {
  rows.push(['geometric mean', '', '', '', '', `${geomean(ratiosChecked).toFixed(2)}x`, `${geomean(ratiosUnchecked).toFixed(2)}x`]);
}
const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
for (const r of rows) console.log(r.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  '));
console.log(`\ncompile time, bench programs: ${geomean(compile).toFixed(1)} µs per instruction (geometric mean; prepare + generate + WebAssembly compile + instantiate)`);
const perInsn = (pick: (s: JitStats) => number): string => geomean(compileStats.map((s) => (pick(s) * 1000) / s.slots)).toFixed(1);
console.log(`  of which generating the module: ${perInsn((s) => s.generateMs)} µs/insn, WebAssembly compile + instantiate: ${perInsn((s) => s.instantiateMs)} µs/insn`);
{
  // Larger programs, where fixed costs no longer dominate: random valid programs of the differential fuzzer.
  const vm = new Vm({ helpers: new HelperRegistry(standardHelpers).register(1000, () => 0) });
  for (const size of [500, 4000]) {
    const insns = randomProgram(new Rng(size), size);
    let best = Infinity;
    let stats: JitStats | undefined;
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      const jit = loadJit(vm, insns);
      best = Math.min(best, performance.now() - t0);
      stats = jit.stats;
    }
    console.log(`compile time, random program of ${insns.length} slots: ${((best * 1000) / insns.length).toFixed(2)} µs per instruction (generate ${((stats!.generateMs * 1000) / insns.length).toFixed(2)}, engine ${((stats!.instantiateMs * 1000) / insns.length).toFixed(2)})`);
  }
}

// Design measurements behind two choices in src/vm/jit (docs/jit.md):
// how helper arguments cross from WebAssembly to JS, and which byte-swap
// sequence to emit. Each builds a tiny module with the JIT's own emitter.
{
  const best = (run: (n: number) => unknown, n: number): number => {
    run(n);
    let fastest = Infinity;
    for (let k = 0; k < 20; k++) {
      const t0 = performance.now();
      run(n);
      fastest = Math.min(fastest, ((performance.now() - t0) * 1e6) / n);
    }
    return fastest;
  };
  const memory = new WebAssembly.Memory({ initial: 1 });
  const view = new DataView(memory.buffer);
  const abi = (kind: 'scratch memory' | 'i32 halves' | 'i64 (BigInt)'): number => {
    const m = new ModuleBuilder();
    m.importMemory('env', 'memory', 1);
    if (kind === 'scratch memory') m.importFunction('env', 'h', [I32], [I32]);
    else if (kind === 'i32 halves') m.importFunction('env', 'h', Array<ValType>(10).fill(I32), [I32]);
    else m.importFunction('env', 'h', [I64, I64, I64, I64, I64], [I64]);
    const { index, body: f } = m.declareFunction([I32], [I32]);
    const r = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
    const acc = f.local(I64);
    f.block(Op.loop);
    for (let k = 0; k < 5; k++) f.get(acc).i64Const(k * 7 + 1).op(Op.i64_add).set(r[k]!);
    if (kind === 'scratch memory') {
      for (let k = 0; k < 5; k++) f.i32Const(0).get(r[k]!).mem(Op.i64_store, 8 * k);
      f.i32Const(42).call(0).op(Op.drop);
      f.i32Const(0).mem(Op.i64_load, 40).set(acc);
    } else if (kind === 'i32 halves') {
      for (let k = 0; k < 5; k++) f.get(r[k]!).op(Op.i32_wrap_i64).get(r[k]!).i64Const(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
      f.call(0).op(Op.i64_extend_i32_u).set(acc);
    } else {
      for (let k = 0; k < 5; k++) f.get(r[k]!);
      f.call(0).set(acc);
    }
    f.get(0).i32Const(1).op(Op.i32_sub).tee(0).br(Op.br_if, 0);
    f.op(Op.end);
    f.get(acc).op(Op.i32_wrap_i64);
    m.exportFunction('run', index);
    // Each helper adds r1 and r3 and returns the sum as r0.
    const h =
      kind === 'scratch memory'
        ? (): number => {
            view.setUint32(40, view.getUint32(0, true) + view.getUint32(16, true), true);
            view.setUint32(44, 0, true);
            return 0;
          }
        : kind === 'i32 halves'
          ? (a: number, _ah: number, _b: number, _bh: number, c: number): number => (a + c) | 0
          : (a: bigint, _b: bigint, c: bigint): bigint => BigInt.asUintN(64, a + c);
    const run = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), { env: { memory, h } }).exports.run as (n: number) => number;
    return best(run, 200_000);
  };
  console.log('\nhelper call from WebAssembly (5 arguments, r0 back), ns per call:');
  for (const kind of ['scratch memory', 'i32 halves', 'i64 (BigInt)'] as const) console.log(`  ${kind.padEnd(16)} ${abi(kind).toFixed(1)}`);

  type Swap = (f: FunctionBody, t: number, width: number) => void;
  const bswap32 = (f: FunctionBody, v: number): void => {
    f.get(v).i32Const(8).op(Op.i32_rotr).i32Const(0xff00ff00 | 0).op(Op.i32_and);
    f.get(v).i32Const(8).op(Op.i32_rotl).i32Const(0x00ff00ff).op(Op.i32_and);
    f.op(Op.i32_or);
  };
  const scalar: Swap = (f, t, width) => {
    if (width === 16) {
      f.tee(t).i64Const(8).op(Op.i64_shr_u).i64Const(0xff).op(Op.i64_and);
      f.get(t).i64Const(0xff).op(Op.i64_and).i64Const(8).op(Op.i64_shl).op(Op.i64_or);
    } else if (width === 32) {
      f.op(Op.i32_wrap_i64).set(t + 1);
      bswap32(f, t + 1);
      f.op(Op.i64_extend_i32_u);
    } else {
      // byte pairs, then half-words, then words, in i64
      f.tee(t).i64Const(8).op(Op.i64_shr_u).i64Const(0x00ff00ff00ff00ffn).op(Op.i64_and);
      f.get(t).i64Const(0x00ff00ff00ff00ffn).op(Op.i64_and).i64Const(8).op(Op.i64_shl).op(Op.i64_or);
      f.tee(t).i64Const(16).op(Op.i64_shr_u).i64Const(0x0000ffff0000ffffn).op(Op.i64_and);
      f.get(t).i64Const(0x0000ffff0000ffffn).op(Op.i64_and).i64Const(16).op(Op.i64_shl).op(Op.i64_or);
      f.i64Const(32).op(Op.i64_rotl);
    }
  };
  const halves: Swap = (f, t, width) => {
    if (width !== 64) return scalar(f, t, width);
    f.tee(t).op(Op.i32_wrap_i64).set(t + 1);
    bswap32(f, t + 1);
    f.op(Op.i64_extend_i32_u).i64Const(32).op(Op.i64_shl);
    f.get(t).i64Const(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).set(t + 1);
    bswap32(f, t + 1);
    f.op(Op.i64_extend_i32_u).op(Op.i64_or);
  };
  const simd: Swap = (f, _t, width) => {
    const n = width / 8;
    f.byte(0xfd).u32(0x12); // i64x2.splat
    f.byte(0xfd).u32(0x0c).bytes(Array.from({ length: 16 }, (_, k) => (k < n ? n - 1 - k : 0x80))); // v128.const
    f.byte(0xfd).u32(0x0e); // i8x16.swizzle
    f.byte(0xfd).u32(0x1d).byte(0); // i64x2.extract_lane 0
  };
  const swapLoop = (swap: Swap, width: number): ((n: number) => bigint) => {
    const m = new ModuleBuilder();
    const { index, body: f } = m.declareFunction([I32], [I64]);
    const x = f.local(I64);
    const t = f.local(I64);
    f.local(I32);
    f.i64Const(0x0123456789abcdefn).set(x);
    f.block(Op.loop);
    f.get(x);
    swap(f, t, width);
    f.i64Const(0x9e3779b97f4a7c15n).op(Op.i64_add).set(x);
    f.get(0).i32Const(1).op(Op.i32_sub).tee(0).br(Op.br_if, 0);
    f.op(Op.end);
    f.get(x);
    m.exportFunction('run', index);
    return new WebAssembly.Instance(new WebAssembly.Module(m.encode())).exports.run as (n: number) => bigint;
  };
  console.log('byte swap + add in a loop, ns per iteration:');
  for (const width of [16, 32, 64]) {
    const variants: [string, Swap][] = [
      ['masks/rotates', scalar],
      ['32-bit halves', halves],
      ['SIMD swizzle', simd],
    ];
    const reference = swapLoop(scalar, width)(1000);
    const cells = variants.map(([name, swap]) => {
      const run = swapLoop(swap, width);
      assert.equal(run(1000), reference, `${name} computes bswap${width} differently`);
      return `${name} ${best(run, 1_000_000).toFixed(2)}`;
    });
    console.log(`  bswap${width}: ${cells.join(', ')}`);
  }
}
