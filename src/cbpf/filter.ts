/**
 * Filtering packets and captures with a compiled filter, on one of three
 * engines: the classic interpreter, or the kernel's eBPF conversion of the
 * program (socket-filter form, LD_ABS/LD_IND) run by the tsbpf VM's
 * interpreter or its WebAssembly JIT.
 */
import { Vm, loadJit, type LoadedProgram, type Region } from '../vm/index.ts';
import { CaptureReader, LinkType, toEthernet, type ByteSource, type CapturedPacket } from '../net/index.ts';
import { TsbpfError } from '../errors.ts';
import { compileFilter, FilterLinkType, type CompileOptions } from './compile.ts';
import { convertCbpf } from './convert.ts';
import { CbpfProgram } from './interpreter.ts';
import type { CbpfInstruction } from './opcodes.ts';

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
 * `tcpdump -r FILE EXPR` selects them: the filter is compiled for the
 * capture's link type (Ethernet, or raw IP), `len` is the length on the
 * wire and loads past the captured bytes reject the packet. Captures of
 * other link types (Linux cooked, loopback...) are seen as Ethernet.
 */
export async function* filterCapture(source: ByteSource, expression: string, options: PacketFilterOptions = {}): AsyncGenerator<CapturedPacket, void, undefined> {
  const reader = await CaptureReader.open(source);
  const filters = new Map<number, PacketFilter>();
  try {
    for await (const packet of reader) {
      const linkType = filterLinkType(packet.linkType);
      let filter = filters.get(linkType);
      if (filter === undefined) {
        filter = PacketFilter.compile(expression, { ...options, linkType });
        filters.set(linkType, filter);
      }
      const native = packet.linkType === LinkType.ETHERNET || linkType === FilterLinkType.RAW;
      const data = native ? packet.data : toEthernet(packet.linkType, packet.data, `packet at offset ${packet.offset}`);
      const wire = packet.originalLength - (packet.data.length - data.length);
      if (filter.matches(data, wire)) yield packet;
    }
  } finally {
    for (const filter of filters.values()) filter.close();
  }
}
