/**
 * Filtering packets and captures with a compiled filter, on one of three
 * engines: the classic interpreter, or the kernel's eBPF conversion of the
 * program (socket-filter form, LD_ABS/LD_IND) run by the tsbpf VM's
 * interpreter or its WebAssembly JIT.
 */
import { Vm, VmProgram, loadJit, type LoadedProgram, type Region } from '../vm/index.ts';
import { ProgramType } from '../uapi/index.ts';
import { CaptureReader, LinkType, copyBytes, toEthernet, type ByteSource, type CapturedPacket } from '../net/index.ts';
import { TsbpfError } from '../errors.ts';
import { compileFilter, FilterLinkType, type CompileOptions } from './compile.ts';
import { convertCbpf } from './convert.ts';
import { CbpfProgram } from './interpreter.ts';
import { Class, Mode, type CbpfInstruction } from './opcodes.ts';

export type FilterEngine = 'cbpf' | 'interpreter' | 'jit';

export interface PacketFilterOptions extends CompileOptions {
  /** 'cbpf' (classic interpreter, the default), 'interpreter' or 'jit' (converted eBPF on the VM). */
  engine?: FilterEngine;
}

/** A filter used after close(). */
export class FilterClosedError extends TsbpfError {
  override name = 'FilterClosedError';
}

/** Bytes of the context given to the converted program: __sk_buff, of which it reads `len` (offset 0). */
const CONTEXT_BYTES = 256;
const INITIAL_PACKET_BYTES = 65536;

/** A classic program ready to test packets: `run` returns the filter's value (0 drops, else the bytes to keep). */
export class PacketFilter {
  readonly program: readonly CbpfInstruction[];
  readonly engine: FilterEngine;
  private readonly classic: CbpfProgram | undefined;
  private readonly vm: Vm | undefined;
  private readonly loaded: LoadedProgram | undefined;
  private context: Region | undefined;
  private packet: Region | undefined;
  private closed = false;

  constructor(program: readonly CbpfInstruction[], engine: FilterEngine = 'cbpf') {
    this.engine = engine;
    this.classic = new CbpfProgram(program);
    this.program = this.classic.instructions;
    if (engine === 'cbpf') return;
    const ebpf = convertCbpf(program, 'socket');
    this.vm = new Vm();
    this.loaded = engine === 'jit' ? loadJit(this.vm, ebpf, { name: 'filter' }) : this.vm.load(ebpf, { name: 'filter' });
    this.context = this.vm.memory.allocateRegion(CONTEXT_BYTES, 'context', '__sk_buff', false);
    this.packet = this.vm.memory.allocateRegion(INITIAL_PACKET_BYTES, 'packet', 'packet', false);
  }

  /** Compiles `expression` (see compileFilter) for the engine chosen. */
  static compile(expression: string, options: PacketFilterOptions = {}): PacketFilter {
    return new PacketFilter(compileFilter(expression, options), options.engine ?? 'cbpf');
  }

  run(data: Uint8Array, wireLength: number = data.length): number {
    if (this.closed) throw new FilterClosedError('the filter is closed');
    if (this.engine === 'cbpf') return this.classic!.run(data, wireLength);
    const vm = this.vm!;
    if (data.length > this.packet!.size) {
      vm.memory.freeRegion(this.packet!);
      this.packet = vm.memory.allocateRegion(Math.max(data.length, this.packet!.size * 2), 'packet', 'packet', false);
    }
    const packet = this.packet!;
    const context = this.context!;
    vm.memory.u8.set(data, packet.start);
    new DataView(vm.memory.u8.buffer).setUint32(context.start, wireLength >>> 0, true);
    const result = this.loaded!.run({ r1: context.start, packet: { start: packet.start, length: data.length } });
    return Number(result.r0 & 0xffffffffn);
  }

  matches(data: Uint8Array, wireLength: number = data.length): boolean {
    return this.run(data, wireLength) !== 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.vm !== undefined) {
      this.vm.memory.freeRegion(this.context!);
      this.vm.memory.freeRegion(this.packet!);
    }
  }
}

/** The filter link type for a capture's link type: raw IP stays raw, anything else is made Ethernet first. */
function filterLinkType(linkType: number): number {
  return linkType === LinkType.RAW || linkType === LinkType.IPV4 || linkType === LinkType.IPV6 ? FilterLinkType.RAW : FilterLinkType.EN10MB;
}

/**
 * The packets of a capture that `expression` accepts, streamed, as
 * `tcpdump -r FILE EXPR` selects them: `len` is the length on the wire and
 * loads past the captured bytes reject the packet.
 *
 * With the 'jit' (default) and 'interpreter' engines the capture goes
 * through the VM's batch path (VmProgram.runCapture): the filter converted
 * to an XDP program runs over batches of Ethernet frames copied into VM
 * memory. The packets that path cannot judge as tcpdump does go through
 * the classic interpreter instead: other link types (raw IP is filtered as
 * raw IP, others seen as Ethernet), frames an XDP test run refuses (shorter
 * than an Ethernet header, longer than a page), and truncated packets when
 * the filter reads `len` (XDP sees the captured length). The 'cbpf' engine
 * filters every packet with the classic interpreter.
 */
export async function* filterCapture(source: ByteSource, expression: string, options: PacketFilterOptions = {}): AsyncGenerator<CapturedPacket, void, undefined> {
  const engine = options.engine ?? 'jit';
  const classic = new ClassicFilters(expression, options);
  if (engine === 'cbpf') {
    try {
      for await (const packet of await CaptureReader.open(source)) if (classic.matches(packet.linkType, packet.data, packet.originalLength, packet.offset)) yield packet;
    } finally {
      classic.close();
    }
    return;
  }
  const ethernet = compileFilter(expression, { ...options, linkType: FilterLinkType.EN10MB });
  const readsLength = ethernet.some((i) => (i.code & 0x07) <= Class.LDX && (i.code & 0xe0) === Mode.LEN);
  const program = new VmProgram(ProgramType.XDP, convertCbpf(ethernet, 'xdp'), { name: 'filter', jit: engine === 'jit' });
  try {
    for await (const batch of program.runCapture(source)) {
      const packets = batch.packets;
      const { retvals, errors } = batch;
      const refused = errors.size > 0;
      // A batch of Ethernet frames the program judged all of: only the verdicts need looking at (most packets of a
      // capture go by here, before V8 has optimised this loop).
      const allJudged = !refused && !readsLength && packets.placement?.linkType === LinkType.ETHERNET;
      for (let n = 0; n < packets.count; n++) {
        if (allJudged && retvals[n] !== XDP_PASS) continue;
        const linkType = packets.linkType[n]!;
        const originalLength = packets.originalLength[n]!;
        if (!allJudged) {
          const judged = linkType === LinkType.ETHERNET && !(refused && errors.has(n)) && !(readsLength && packets.length[n]! !== originalLength);
          if (judged ? retvals[n] !== XDP_PASS : !classic.matches(linkType, packets.data(n), originalLength, packets.offset[n]!)) continue;
        }
        // The bytes as a view into a shared chunk (copyBytes): an ArrayBuffer per packet cost a third of the time in garbage collection.
        const start = packets.start[n]!;
        yield packets.records?.[n] ?? { data: copyBytes(packets.bytes, start, start + packets.length[n]!), originalLength, timestamp: packets.timestamp(n), interfaceId: 0, linkType, offset: packets.offset[n]! };
      }
    }
  } finally {
    program.close();
    classic.close();
  }
}

const XDP_PASS = 2;

/** The classic interpreter's verdict per capture link type, each filter compiled on first use. */
class ClassicFilters {
  private readonly filters = new Map<number, PacketFilter>();

  constructor(
    private readonly expression: string,
    private readonly options: CompileOptions,
  ) {}

  matches(captureLinkType: number, data: Uint8Array, originalLength: number, offset: number): boolean {
    const linkType = filterLinkType(captureLinkType);
    let filter = this.filters.get(linkType);
    if (filter === undefined) {
      filter = PacketFilter.compile(this.expression, { ...this.options, linkType, engine: 'cbpf' });
      this.filters.set(linkType, filter);
    }
    const native = captureLinkType === LinkType.ETHERNET || linkType === FilterLinkType.RAW;
    const frame = native ? data : toEthernet(captureLinkType, data, `packet at offset ${offset}`);
    return filter.matches(frame, originalLength - (data.length - frame.length));
  }

  close(): void {
    for (const filter of this.filters.values()) filter.close();
  }
}
