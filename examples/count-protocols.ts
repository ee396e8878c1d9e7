/**
 * Runs examples/count-protocols.c over examples/traffic.pcap on the VM
 * (interpreter and JIT) and, as root on Linux, in the kernel, then prints
 * each backend's map contents: they agree.
 *
 *   clang-19 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c examples/count-protocols.c -o count-protocols.o
 *   node --import tsx examples/count-protocols.ts count-protocols.o
 */
import { loadCollectionSpec } from '../src/object/index.ts';
import { loadVmCollection } from '../src/vm/index.ts';
import { loadCollection } from '../src/kernel/index.ts';
import type { BpfMap, BpfProgram } from '../src/backend/index.ts';
import { readCaptureAll } from '../src/net/index.ts';

const spec = loadCollectionSpec(process.argv[2] ?? 'count-protocols.o');
const packets = await readCaptureAll(new URL('traffic.pcap', import.meta.url).pathname);

interface Backend {
  name: string;
  programs: Record<string, BpfProgram>;
  maps: Record<string, BpfMap>;
  close(): void;
}
const backends: Backend[] = [
  { name: 'vm', ...wrap(loadVmCollection(spec)) },
  { name: 'vm --jit', ...wrap(loadVmCollection(spec, { jit: true })) },
];
if (process.getuid?.() === 0) backends.push({ name: 'kernel', ...wrap(loadCollection(spec)) });

function wrap(c: { programs: Record<string, BpfProgram>; maps: Record<string, BpfMap>; close(): void }) {
  return { programs: c.programs, maps: c.maps, close: () => c.close() };
}

const u32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(0, true);
const u64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
const ipv4 = (b: Uint8Array): string => [...b.subarray(0, 4)].join('.');

for (const backend of backends) {
  try {
    for (const packet of packets) backend.programs.count!.run({ data: packet.data });
    const protocols = [...backend.maps.packets_by_protocol!.entries()].filter(([, v]) => u64(v) > 0n).map(([k, v]) => `${u32(k)}:${u64(v)}`);
    const sources = [...backend.maps.bytes_by_source!.entries()].map(([k, v]) => [ipv4(k), u64(v)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    console.log(`${backend.name.padEnd(9)} packets by protocol ${protocols.join(' ')}; bytes from ${sources.length} sources, ${sources[0]![0]} sent ${sources[0]![1]}`);
  } finally {
    backend.close();
  }
}
