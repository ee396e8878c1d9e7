// What a web page does with tsbpf: bundled for the browser by bundle.test.ts
// and run in a context without Node's globals. Imports go through the public
// entry points only, so the bundle pulls in what an application's would.
import { assemble, disassemble } from '../../src/isa/index.ts';
import { createVmMap } from '../../src/maps/index.ts';
import { collectionFromInstructions, loadCollectionSpec } from '../../src/object/index.ts';
import { MapType, ProgramType, XdpAction, helperId } from '../../src/uapi/index.ts';
import { Vm, VmProgram, loadJit, loadVmCollection } from '../../src/vm/index.ts';

/** Counts packets per EtherType in a hash map; passes IPv4, drops the rest (aborts on a frame shorter than Ethernet's header, which VmProgram refuses, as the kernel does). */
function counterSource(mapHandle: number): string {
  return `
  r6 = r1
  r2 = *(u32 *)(r6 + 0)
  r3 = *(u32 *)(r6 + 4)
  r4 = r2
  r4 += 14
  if r4 > r3 goto runt
  r7 = *(u16 *)(r2 + 12)
  *(u32 *)(r10 - 4) = r7
  r2 = r10
  r2 += -4
  r1 = ${mapHandle} ll
  call ${helperId('map_lookup_elem')}
  if r0 == 0 goto insert
  r1 = 1
  lock *(u64 *)(r0 + 0) += r1
  goto verdict
insert:
  r1 = 1
  *(u64 *)(r10 - 16) = r1
  r1 = ${mapHandle} ll
  r2 = r10
  r2 += -4
  r3 = r10
  r3 += -16
  r4 = 0
  call ${helperId('map_update_elem')}
verdict:
  r0 = ${XdpAction.DROP}
  if r7 != 0x8 goto out
  r0 = ${XdpAction.PASS}
out:
  exit
runt:
  r0 = ${XdpAction.ABORTED}
  exit`;
}

function frame(etherType: number): Uint8Array {
  const bytes = new Uint8Array(60);
  bytes[12] = etherType >> 8;
  bytes[13] = etherType & 0xff;
  return bytes;
}

const PACKETS = [frame(0x0800), frame(0x86dd), frame(0x0800), frame(0x8100), frame(0x86dd), frame(0x0800)];

function countPackets(jit: boolean): { engine: string; verdicts: number[]; ipv4: number[]; ipv6: number[]; vlan: number[] } {
  const machine = new Vm();
  const counts = createVmMap(machine.memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16 });
  const program = new VmProgram(ProgramType.XDP, assemble(counterSource(counts.handle)), { vm: machine, jit });
  const verdicts = PACKETS.map((data) => program.run({ data }).retval);
  const count = (key: number[]): number[] => Array.from(counts.lookup(new Uint8Array(key)) ?? []);
  return { engine: program.engine, verdicts, ipv4: count([0x08, 0x00, 0, 0]), ipv6: count([0x86, 0xdd, 0, 0]), vlan: count([0x81, 0x00, 0, 0]) };
}

/** r0 = (r1 * 3 + 7) ^ r2 through the interpreter and the JIT directly. */
function arithmetic(): { interpreter: string; jit: string; listing: string } {
  const instructions = assemble('r0 = r1\nr0 *= 3\nr0 += 7\nr0 ^= r2\nexit');
  const machine = new Vm();
  const options = { r1: 1000n, r2: 0xffn };
  return {
    interpreter: machine.load(instructions).run(options).r0.toString(),
    jit: loadJit(machine, instructions).run(options).r0.toString(),
    listing: disassemble(instructions),
  };
}

function collection(): number[] {
  const spec = collectionFromInstructions({ name: 'pass_all', section: 'xdp', instructions: assemble(`r0 = ${XdpAction.PASS}\nexit`) });
  const loaded = loadVmCollection(spec, { jit: true });
  return [loaded.program('pass_all').run({ data: frame(0x0800) }).retval];
}

/** A path needs a file system: the browser host must say so with a typed error. */
function fileAccess(): { name: string; message: string } {
  try {
    loadCollectionSpec('/tmp/object.o');
    return { name: 'none', message: 'loadCollectionSpec read a path in the browser' };
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
}

(globalThis as { tsbpfPageResults?: string }).tsbpfPageResults = JSON.stringify({
  interpreter: countPackets(false),
  jit: countPackets(true),
  arithmetic: arithmetic(),
  collection: collection(),
  fileAccess: fileAccess(),
});
