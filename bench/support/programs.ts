// The XDP programs the JIT and VM benchmarks share (bench/jit.ts, bench/vm-run.ts),
// with their packets and maps, and the sampling both use.
import { buildPacket, ethernet, ipv4, payload, tcp, udp } from '../../src/net/index.ts';
import { type Instruction, OPCODE_LDDW } from '../../src/isa/index.ts';
import { MapType } from '../../src/uapi/enums.ts';

export interface MapDef {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Entries to insert before running: [key, value] as u32 key / u64 value. */
  fill: [number, number][];
}

export interface Case {
  name: string;
  source: string;
  packet: Uint8Array;
  maps?: MapDef[];
}

function ipv4Packet(length: number, protocol: 6 | 17): Uint8Array {
  const headers = 14 + 20 + (protocol === 6 ? 20 : 8);
  const l4 = protocol === 6 ? tcp({ sport: 12345, dport: 80, flags: 0x18 }) : udp({ sport: 12345, dport: 80 });
  return buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), l4, payload(Uint8Array.from({ length: length - headers }, (_, i) => (i * 7) & 0xff)));
}

const ptr = `
  ldxw %r2, [%r1]
  ldxw %r3, [%r1+4]`;

export const cases: Case[] = [
  {
    name: 'alu loop (xorshift64 + mul, 1000 iterations)',
    packet: new Uint8Array(64),
    source: `
      mov %r0, 1
      mov %r3, 0
      mov %r4, 1000
    loop:
      mov %r2, %r0
      lsh %r2, 13
      xor %r0, %r2
      mov %r2, %r0
      rsh %r2, 7
      xor %r0, %r2
      mov %r2, %r0
      lsh %r2, 17
      xor %r0, %r2
      add %r3, %r0
      mul %r3, 31
      sub %r4, 1
      jne %r4, 0, loop
      mov32 %r0, %r3
      and32 %r0, 3
      exit`,
  },
  {
    name: 'FNV-1a over a 1 KiB packet',
    packet: ipv4Packet(1024, 17),
    source: `${ptr}
      mov %r0, 0
      mov %r4, %r2
      add %r4, 1024
      jgt %r4, %r3, out
      lddw %r0, 0xcbf29ce484222325
      lddw %r5, 0x100000001b3
      mov %r6, 0
    loop:
      mov %r4, %r2
      add %r4, %r6
      ldxb %r7, [%r4]
      xor %r0, %r7
      mul %r0, %r5
      add %r6, 1
      jlt %r6, 1024, loop
      and32 %r0, 3
    out:
      exit`,
  },
  ...([64, 1500] as const).map(
    (size): Case => ({
      name: `XDP parser eth/ip/${size === 64 ? 'udp' : 'tcp'}, ${size}-byte packet`,
      packet: ipv4Packet(size, size === 64 ? 17 : 6),
      source: `${ptr}
      mov %r0, 2
      mov %r4, %r2
      add %r4, 14
      jgt %r4, %r3, out
      ldxh %r5, [%r2+12]
      be16 %r5
      jne %r5, 0x0800, out
      mov %r4, %r2
      add %r4, 34
      jgt %r4, %r3, out
      ldxb %r5, [%r2+14]
      and %r5, 0xf
      lsh %r5, 2
      jlt %r5, 20, drop
      ldxb %r6, [%r2+23]
      ldxw %r7, [%r2+26]
      ldxw %r8, [%r2+30]
      mov %r4, %r2
      add %r4, 14
      add %r4, %r5
      jeq %r6, 17, udp
      jne %r6, 6, out
      mov %r9, %r4
      add %r9, 20
      jgt %r9, %r3, drop
      ldxh %r5, [%r4]
      ldxh %r6, [%r4+2]
      ldxb %r9, [%r4+13]
      and %r9, 0x3f
      xor %r7, %r9
      ja ports
    udp:
      mov %r9, %r4
      add %r9, 8
      jgt %r9, %r3, drop
      ldxh %r5, [%r4]
      ldxh %r6, [%r4+2]
    ports:
      be16 %r5
      be16 %r6
      xor %r7, %r8
      add %r7, %r5
      add %r7, %r6
      mov32 %r0, %r7
      and32 %r0, 3
      exit
    drop:
      mov %r0, 1
    out:
      exit`,
    }),
  ),
  {
    name: 'IP checksum over 1500 bytes, bounds check per word',
    packet: ipv4Packet(1500, 6),
    source: `${ptr}
      mov %r0, 0
      mov %r6, 0
    loop:
      mov %r4, %r2
      add %r4, %r6
      mov %r5, %r4
      add %r5, 2
      jgt %r5, %r3, done
      ldxh %r7, [%r4]
      add %r0, %r7
      add %r6, 2
      jlt %r6, 1500, loop
    done:
      mov %r7, %r0
      rsh %r7, 16
      and %r0, 0xffff
      add %r0, %r7
      mov %r7, %r0
      rsh %r7, 16
      and %r0, 0xffff
      add %r0, %r7
      and32 %r0, 3
      exit`,
  },
  {
    name: 'map counting (64 array + 64 hash lookups)',
    packet: new Uint8Array(64),
    maps: [
      { name: 'counts', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 16, fill: [] },
      { name: 'weights', type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 64, fill: Array.from({ length: 32 }, (_, k) => [k, k * 3]) },
    ],
    source: `
      mov %r6, 0
      mov %r7, 0
    loop:
      mov %r1, %r6
      and %r1, 15
      stxw [%r10-4], %r1
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      call 1
      jeq %r0, 0, skip1
      ldxdw %r1, [%r0]
      add %r1, 1
      stxdw [%r0], %r1
    skip1:
      mov %r1, %r6
      and %r1, 31
      stxw [%r10-8], %r1
      lddw %r1, 1
      mov %r2, %r10
      add %r2, -8
      call 1
      jeq %r0, 0, skip2
      ldxdw %r1, [%r0]
      add %r7, %r1
    skip2:
      add %r6, 1
      jlt %r6, 64, loop
      mov32 %r0, %r7
      and32 %r0, 3
      exit`,
  },
  {
    name: 'bpf-to-bpf calls (100 calls)',
    packet: new Uint8Array(64),
    source: `
      mov %r6, 0
      mov %r7, 0
    loop:
      mov %r1, %r6
      mov %r2, %r7
      call local mix
      mov %r7, %r0
      add %r6, 1
      jlt %r6, 100, loop
      mov32 %r0, %r7
      and32 %r0, 3
      exit
    mix:
      mov %r0, %r1
      mul %r0, 0x9e3779b1
      xor %r0, %r2
      mov %r3, %r2
      rsh %r3, 5
      add %r0, %r3
      exit`,
  },
  {
    name: '32-bit ALU with byte swaps (256 iterations)',
    packet: new Uint8Array(64),
    source: `
      mov32 %r0, 0x12345678
      mov32 %r6, 0
    loop:
      mov32 %r2, %r0
      be32 %r2
      add32 %r0, %r2
      mov32 %r3, %r0
      be16 %r3
      xor32 %r0, %r3
      mov %r4, %r0
      lsh %r4, 7
      be64 %r4
      rsh %r4, 29
      add32 %r0, %r4
      mov32 %r5, %r0
      rsh32 %r5, 27
      lsh32 %r0, 5
      or32 %r0, %r5
      add32 %r6, 1
      jlt32 %r6, 256, loop
      and32 %r0, 3
      exit`,
  },
];

/** Program with lddw #k (map placeholders) replaced: `resolve(k)` gives [src, imm]. */
export function withMaps(insns: Instruction[], maps: MapDef[] | undefined, resolve: (k: number) => [number, number]): Instruction[] {
  if (!maps) return insns;
  return insns.map((i) => (isMapPlaceholder(i, maps) ? { ...i, src: resolve(i.imm)[0], imm: resolve(i.imm)[1] } : i));
}

/** `lddw r1, K`: the case's map K, which withMaps resolves and mapRelocations names. */
const isMapPlaceholder = (i: Instruction, maps: MapDef[]): boolean => i.opcode === OPCODE_LDDW && i.src === 0 && i.imm < maps.length && i.dst === 1;

/** The case's map references as an object's relocations (map K by name at each placeholder), for loading through a CollectionSpec; the instructions must carry src = BPF_PSEUDO_MAP_FD there (withMaps). */
export function mapRelocations(insns: Instruction[], maps: MapDef[] | undefined): { kind: 'map'; insnIndex: number; mapName: string }[] {
  if (!maps) return [];
  return insns.flatMap((i, insnIndex) => (isMapPlaceholder(i, maps) ? [{ kind: 'map' as const, insnIndex, mapName: maps[i.imm]!.name }] : []));
}

export const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
export const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);

/**
 * Time `fn(repeat)` (which reports ns per run): many short samples of about
 * `sampleMs`, keeping the fastest, so that time this process spends
 * preempted (the machine may be busy) does not count. The kernel's own
 * duration already excludes it: its test-run loop stops the clock to
 * reschedule.
 */
export function calibrate(fn: (repeat: number) => number, sampleMs = 4, samples = 40): number {
  // Warm up for 100 ms at least: V8 optimises a large function (the interpreter's loop) only after some tens of
  // milliseconds, and samples taken before measure its bytecode, not the engine users run for long.
  const warmUntil = performance.now() + 100;
  do fn(1000);
  while (performance.now() < warmUntil);
  const probe = fn(100);
  const repeat = Math.max(10, Math.min(50_000_000, Math.round((sampleMs * 1e6) / Math.max(probe, 1))));
  let best = Infinity;
  for (let k = 0; k < samples; k++) best = Math.min(best, fn(repeat));
  return best;
}

