// Map benchmark: the cost of one hash-map lookup/update
//   - from JS through the program view (HashMap.lookupElem/updateElem: key in VM memory, as helpers call it),
//   - from JS through the user-space view (HashMap.lookup/update: copies in and out, like bpf()),
//   - from JIT-compiled WebAssembly (the lookup inlined by the JIT, src/vm/jit) and from the interpreter,
//   - a plain JS Map<number, Uint8Array> and Map<string, Uint8Array> (key bytes as a string) as baselines,
//   - and, as root, the kernel (bpf() syscall per lookup from user space).
// Same keys, same map size (50% full of 4-byte keys, 8-byte values) for all.
//
//   node --import tsx bench/maps.ts
import { HashMap } from '../src/maps/hash.ts';
import { ArrayMap } from '../src/maps/array.ts';
import { VmMemory } from '../src/vm/memory.ts';
import { HelperRegistry, Vm, standardHelpers } from '../src/vm/index.ts';
import { registerMapHelpers } from '../src/maps/helpers.ts';
import { loadJit } from '../src/vm/jit/index.ts';
import { AluOp, JmpOp, Size } from '../src/isa/opcodes.ts';
import { alu64Imm, callHelper, exit, jmpImm, lddw, mov64Imm, mov64Reg, st, type Instruction } from '../src/isa/instruction.ts';
import { MapType } from '../src/uapi/enums.ts';

const ENTRIES = 1 << 16;
const KEYS = ENTRIES / 2;
const ITERATIONS = 2_000_000;

function timeNs(iterations: number, body: (i: number) => void): number {
  for (let i = 0; i < Math.min(iterations, 100_000); i++) body(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) body(i);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

const results: [string, number][] = [];
const report = (name: string, ns: number): void => {
  results.push([name, ns]);
  console.log(`${name.padEnd(58)} ${ns.toFixed(1).padStart(8)} ns`);
};

const keyOf = (i: number): number => (Math.imul(i % KEYS, 2654435761) >>> 0);

// ---- JS, program view and user-space view ----
const memory = new VmMemory(64 << 20);
const hash = new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: ENTRIES });
const key = memory.allocate(8);
const value = memory.allocate(8);
for (let i = 0; i < KEYS; i++) {
  memory.view.setUint32(key, keyOf(i), true);
  hash.updateElem(key, value, 0, 0);
}
let sink = 0;
report('HashMap.lookupElem (program view, from JS)', timeNs(ITERATIONS, (i) => {
  memory.view.setUint32(key, keyOf(i), true);
  sink += hash.lookupElem(key, 0);
}));
report('HashMap.updateElem existing key (program view)', timeNs(ITERATIONS, (i) => {
  memory.view.setUint32(key, keyOf(i), true);
  sink += hash.updateElem(key, value, 2, 0);
}));
const userKey = new Uint8Array(4);
const userKeyView = new DataView(userKey.buffer);
report('HashMap.lookup (user-space view, copies)', timeNs(ITERATIONS, (i) => {
  userKeyView.setUint32(0, keyOf(i), true);
  sink += hash.lookup(userKey)!.length;
}));
const array = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: ENTRIES });
report('ArrayMap.lookupElem (program view)', timeNs(ITERATIONS, (i) => {
  memory.view.setUint32(key, i % ENTRIES, true);
  sink += array.lookupElem(key, 0);
}));

// ---- plain JS baselines ----
const jsMap = new Map<number, Uint8Array>();
const jsStringMap = new Map<string, Uint8Array>();
for (let i = 0; i < KEYS; i++) {
  jsMap.set(keyOf(i), new Uint8Array(8));
  userKeyView.setUint32(0, keyOf(i), true);
  jsStringMap.set(String.fromCharCode(...userKey), new Uint8Array(8));
}
report('baseline: JS Map<number, Uint8Array>.get', timeNs(ITERATIONS, (i) => {
  sink += jsMap.get(keyOf(i))!.length;
}));
report('baseline: JS Map<string, Uint8Array>.get (key bytes)', timeNs(ITERATIONS, (i) => {
  userKeyView.setUint32(0, keyOf(i), true);
  sink += jsStringMap.get(String.fromCharCode(userKey[0]!, userKey[1]!, userKey[2]!, userKey[3]!))!.length;
}));

// ---- compiled code: a program doing LOOKUPS lookups per run ----
const LOOKUPS = 1000;
function lookupLoop(handle: number, withCall: boolean): Instruction[] {
  return [
    mov64Imm(6, LOOKUPS),
    st(Size.W, 10, -4, 0),
    // loop:
    mov64Reg(1, 6),
    alu64Imm(AluOp.MUL, 1, 40503),
    // *(u32 *)(r10 - 4) = key: one of the stored keys
    ...[alu64Imm(AluOp.AND, 1, KEYS - 1)],
    { opcode: 0x63, dst: 10, src: 1, offset: -4, imm: 0 },
    ...(withCall ? [...lddw(1, handle), mov64Reg(2, 10), alu64Imm(AluOp.ADD, 2, -4), callHelper(1)] : [mov64Reg(2, 10), alu64Imm(AluOp.ADD, 2, -4)]),
    alu64Imm(AluOp.SUB, 6, 1),
    jmpImm(JmpOp.JNE, 6, 0, withCall ? -10 : -7),
    mov64Imm(0, 0),
    exit(),
  ];
}
const vm = new Vm({ helpers: registerMapHelpers(new HelperRegistry(standardHelpers)), budget: 0 });
const vmHash = new HashMap(vm.memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: ENTRIES });
for (let i = 0; i < KEYS; i++) vmHash.update(new Uint8Array(new Uint32Array([i]).buffer), new Uint8Array(8));
try {
  const withLookups = loadJit(vm, lookupLoop(vmHash.handle, true));
  const emptyLoop = loadJit(vm, lookupLoop(vmHash.handle, false));
  const repeat = 2000;
  withLookups.runRepeated({}, 200);
  emptyLoop.runRepeated({}, 200);
  const full = withLookups.runRepeated({}, repeat).nsPerRun;
  const empty = emptyLoop.runRepeated({}, repeat).nsPerRun;
  report('JIT: inlined bpf_map_lookup_elem (hash, 4-byte key)', (full - empty) / LOOKUPS);
} catch (error) {
  console.log(`JIT: not measured (${(error as Error).message})`);
}
const interpreted = vm.load(lookupLoop(vmHash.handle, true));
const interpretedEmpty = vm.load(lookupLoop(vmHash.handle, false));
const tInterp = timeNs(200, () => interpreted.run());
const tInterpEmpty = timeNs(200, () => interpretedEmpty.run());
report('interpreter: bpf_map_lookup_elem helper call (hash)', (tInterp - tInterpEmpty) / LOOKUPS);

// ---- kernel, from user space ----
if (process.getuid?.() === 0) {
  try {
    const { KernelMap } = await import('../src/kernel/map.ts');
    const kernel = KernelMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: ENTRIES });
    for (let i = 0; i < KEYS; i++) kernel.update(new Uint8Array(new Uint32Array([keyOf(i)]).buffer), new Uint8Array(8));
    report('kernel: bpf(MAP_LOOKUP_ELEM) from user space', timeNs(200_000, (i) => {
      userKeyView.setUint32(0, keyOf(i), true);
      sink += kernel.lookup(userKey)!.length;
    }));
    kernel.close();
  } catch (error) {
    console.log(`kernel: not measured (${(error as Error).message})`);
  }
}

// Ratios against the reference measured in this same run (a plain JS Map), so figures from different machines compare.
const reference = results.find(([name]) => name.startsWith('baseline: JS Map<number'));
if (reference !== undefined) {
  console.log(`\nrelative to ${reference[0].slice('baseline: '.length)} (${reference[1].toFixed(1)} ns):`);
  for (const [name, ns] of results) console.log(`  ${name.padEnd(56)} ${(ns / reference[1]).toFixed(2).padStart(7)}x`);
}
if (sink === 0.5) console.log(sink); // keep the loops' results alive
