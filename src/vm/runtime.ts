/**
 * The VM backend's program object: a program of a given type loaded into a
 * Vm with the runtime helpers, offering the same `run({ data, ctx, repeat })`
 * as the kernel backend's BPF_PROG_TEST_RUN (src/kernel/interface.ts), and
 * modelled on what the kernel's test run does for each program type
 * (net/bpf/test_run.c): the packet layout, the context fields it fills, the
 * fields it accepts in ctx_in and returns in ctx_out.
 */
import { TsbpfError } from '../errors.ts';
import type { Instruction } from '../isa/instruction.ts';
import { OPCODE_CALL } from '../isa/opcodes.ts';
import type { BpfProgram, RunOptions, RunResult } from '../kernel/interface.ts';
import { ProgramType } from '../uapi/enums.ts';
import { type ContextLayout, type ProgramTypeSpec, CONTEXT_LAYOUTS, programTypeSpec } from '../uapi/program-types.ts';
import { checkContextAccesses } from './context.ts';
import type { HelperRegistry } from './helper-registry.ts';
import {
  ETH_HLEN,
  type EventInput,
  PacketBuffer,
  type RedirectDecision,
  RunEnvironment,
  SKB_HEADROOM,
  UnsupportedHelperError,
  XDP_FRAME_BYTES,
  XDP_HEADROOM,
  XDP_TAILROOM,
  helperName,
  installRuntimeHelpers,
  resolveFunctionPointers,
  unavailableReason,
} from './helpers/index.ts';
import { type JitOptions, loadJit } from './jit/index.ts';
import type { Region } from './memory.ts';
import type { LoadedProgram } from './program.ts';
import { Vm } from './vm.ts';

/** A run's input the kernel would refuse (BPF_PROG_TEST_RUN's -EINVAL / -E2BIG cases), named. */
export class RunInputError extends TsbpfError {
  override name = 'RunInputError';
}

export interface VmProgramOptions {
  name?: string;
  /** The Vm to load into (its memory holds the maps the program uses); default a new one. */
  vm?: Vm;
  /** Entry points of subprograms (for the context pass), default [0]. */
  functionStarts?: readonly number[];
  /** Event data for tracing helpers, used by every run unless a run gives its own. */
  event?: EventInput;
  onTrace?: (line: string) => void;
  clock?: () => bigint;
  random?: () => number;
  /** Compile to WebAssembly (src/vm/jit) instead of interpreting; JitOptions are passed through. */
  jit?: boolean | JitOptions;
  /** Virtual CPUs of the maps the program uses: `event.cpu` must be below it (default 1). */
  cpus?: number;
}

export interface VmRunOptions extends RunOptions {
  event?: EventInput;
}

export interface VmRunResult extends RunResult {
  /** trace_printk output of the run (the last repetition). */
  trace: string[];
  /** bpf_redirect / bpf_redirect_map decision, when the program made one. */
  redirect?: RedirectDecision;
}

const XDP_MD = CONTEXT_LAYOUTS.xdp_md;
const SKB = CONTEXT_LAYOUTS.__sk_buff;
const field = (layout: ContextLayout, name: string): number => layout.fields.find((f) => f.name === name)!.offset;
/** __sk_buff fields BPF_PROG_TEST_RUN accepts in ctx_in and returns in ctx_out (convert___skb_to_skb). */
const SKB_CTX_FIELDS = ['mark', 'priority', 'ingress_ifindex', 'ifindex', 'cb', 'tstamp', 'wire_len', 'gso_segs', 'gso_size', 'hwtstamp'];
const SKB_PROGRAM_TYPES = new Set<number>([ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.CGROUP_SKB, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT, ProgramType.LWT_SEG6LOCAL]);
/** Program types whose skb starts at the network header (the kernel pushes the MAC header back only for tc). */
const L2_SKB_TYPES = new Set<number>([ProgramType.SCHED_CLS, ProgramType.SCHED_ACT]);
/** BPF_PROG_TEST_RUN refuses skb frames whose IP header is shorter than the fixed header (measured on Linux 6.18). */
const NETWORK_HEADER_BYTES: Partial<Record<number, { name: string; bytes: number }>> = {
  0x0800: { name: 'IPv4', bytes: 20 },
  0x86dd: { name: 'IPv6', bytes: 40 },
};
const LOOPBACK_IFINDEX = 1;
const PACKET_HOST = 0;
const PACKET_BROADCAST = 1;
const PACKET_MULTICAST = 2;
const PACKET_OTHERHOST = 3;

/** Refuses a program calling helpers the registry lacks, naming each and why it cannot exist in user space. */
function checkHelpers(name: string, instructions: readonly Instruction[], registry: HelperRegistry): void {
  const missing: { id: number; name: string; index: number; reason: string }[] = [];
  instructions.forEach((i, index) => {
    if (i.opcode === OPCODE_CALL && i.src === 0 && registry.helper(i.imm) === undefined) {
      const helper = helperName(i.imm);
      missing.push({ id: i.imm, name: helper, index, reason: unavailableReason(helper) });
    }
  });
  if (missing.length > 0) throw new UnsupportedHelperError(name, missing);
}

let nextProgramId = 1;
const livePrograms = new Map<number, VmProgram>();

/** The open VmProgram with this id (the VM's stand-in for a program fd in prog array values). */
export function vmProgramById(id: number): VmProgram | undefined {
  return livePrograms.get(id);
}

export class VmProgram implements BpfProgram {
  readonly name: string;
  readonly spec: ProgramTypeSpec;
  readonly vm: Vm;
  /** Stands in for the program's fd/id: prog array values written from user space hold it. */
  readonly id: number;
  /** The program in its engine (interpreter or JIT): what prog arrays hold as tail call targets. */
  readonly loaded: LoadedProgram;
  private readonly releaseFunctionPointers: () => void;
  private closed = false;

  constructor(
    readonly type: number,
    instructions: readonly Instruction[],
    private readonly options: VmProgramOptions = {},
  ) {
    installRuntimeHelpers();
    const spec = programTypeSpec(type);
    if (spec === undefined) throw new RunInputError(`program type ${type} is unknown`);
    this.spec = spec;
    this.name = options.name ?? 'program';
    this.vm = options.vm ?? new Vm();
    checkHelpers(this.name, instructions, this.vm.helpers);
    checkContextAccesses(instructions, spec, options.functionStarts);
    const jit = options.jit === true ? {} : options.jit === false ? undefined : options.jit;
    const load = (code: readonly Instruction[]): LoadedProgram =>
      jit !== undefined ? loadJit(this.vm, code, { ...jit, name: this.name }) : this.vm.load(code, { name: this.name });
    const resolved = resolveFunctionPointers(this.vm.memory, this.name, instructions, load);
    this.releaseFunctionPointers = resolved.release;
    try {
      this.loaded = load(resolved.instructions);
    } catch (error) {
      resolved.release();
      throw error;
    }
    this.id = nextProgramId++;
    livePrograms.set(this.id, this);
  }

  /** The engine that runs the program. */
  get engine(): 'interpreter' | 'jit' {
    return this.loaded.engine;
  }

  run(options: VmRunOptions = {}): VmRunResult {
    if (this.closed) throw new RunInputError(`program '${this.name}' is closed`);
    const repeat = options.repeat ?? 1;
    // BPF_PROG_TEST_RUN's repeat is a __u32; a larger number would only make a run that cannot be interrupted.
    if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) throw new RunInputError(`repeat must be an integer in 0..2^32-1 (a __u32), got ${repeat}`);
    const event = options.event ?? this.options.event ?? {};
    const cpus = this.options.cpus ?? 1;
    if (event.cpu !== undefined && (!Number.isInteger(event.cpu) || event.cpu < 0 || event.cpu >= cpus)) {
      throw new RunInputError(`event.cpu ${event.cpu} is not a CPU of this VM (0..${cpus - 1}; set cpus when loading)`);
    }
    const env = new RunEnvironment({
      ...event,
      onTrace: this.options.onTrace,
      clock: this.options.clock,
      random: this.options.random,
    });
    if (this.type === ProgramType.XDP) return this.runXdp(options, env, Math.max(1, repeat));
    if (SKB_PROGRAM_TYPES.has(this.type)) return this.runSkb(options, env, Math.max(1, repeat));
    return this.runRaw(options, env, Math.max(1, repeat));
  }

  private checkContextSize(ctx: Uint8Array, size: number, struct: string): void {
    if (ctx.length > size && ctx.subarray(size).some((b) => b !== 0)) {
      throw new RunInputError(`ctx is ${ctx.length} bytes, larger than ${struct} (${size} bytes) with non-zero bytes past its end (the kernel's -E2BIG)`);
    }
  }

  private execute(contextAddress: number, env: RunEnvironment, repeat: number): { retval: number; durationNs: number } {
    env.contextAddress = contextAddress;
    let r0 = 0n;
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) {
      env.trace.length = 0;
      r0 = this.loaded.run({ r1: contextAddress, context: env }).r0;
    }
    const durationNs = Number((process.hrtime.bigint() - start) / BigInt(repeat));
    return { retval: Number(BigInt.asUintN(32, r0)), durationNs };
  }

  private runXdp(options: VmRunOptions, env: RunEnvironment, repeat: number): VmRunResult {
    const data = options.data ?? new Uint8Array(0);
    let metaLength = 0;
    let ingress = LOOPBACK_IFINDEX;
    let rxQueue = 0;
    if (options.ctx !== undefined) {
      this.checkContextSize(options.ctx, XDP_MD.size, 'struct xdp_md');
      const ctx = new Uint8Array(XDP_MD.size);
      ctx.set(options.ctx.subarray(0, XDP_MD.size));
      const view = new DataView(ctx.buffer);
      const dataField = view.getUint32(field(XDP_MD, 'data'), true);
      const dataEnd = view.getUint32(field(XDP_MD, 'data_end'), true);
      if (view.getUint32(field(XDP_MD, 'data_meta'), true) !== 0) throw new RunInputError('xdp_md.data_meta must be 0 in ctx_in');
      if (dataEnd !== data.length) throw new RunInputError(`xdp_md.data_end is ${dataEnd}, but data is ${data.length} bytes`);
      if (dataField > dataEnd || dataField % 4 !== 0 || dataField > 252) throw new RunInputError(`xdp_md.data ${dataField} is not a valid metadata length (a multiple of 4, at most 252, within data)`);
      if (view.getUint32(field(XDP_MD, 'egress_ifindex'), true) !== 0) throw new RunInputError('xdp_md.egress_ifindex must be 0 in ctx_in');
      metaLength = dataField;
      ingress = view.getUint32(field(XDP_MD, 'ingress_ifindex'), true) || LOOPBACK_IFINDEX;
      rxQueue = view.getUint32(field(XDP_MD, 'rx_queue_index'), true);
    }
    if (data.length - metaLength < ETH_HLEN) throw new RunInputError(`XDP data is ${data.length - metaLength} bytes, shorter than an Ethernet header (${ETH_HLEN})`);
    if (data.length > XDP_FRAME_BYTES - XDP_HEADROOM - XDP_TAILROOM) throw new RunInputError(`XDP data of ${data.length} bytes does not fit a ${XDP_FRAME_BYTES}-byte frame`);
    const packet = new PacketBuffer(this.vm.memory, data, 'xdp', XDP_HEADROOM - metaLength, XDP_TAILROOM, XDP_FRAME_BYTES);
    packet.setBounds({ dataMeta: packet.dataMeta, data: packet.dataMeta + metaLength, dataEnd: packet.dataEnd });
    const fill = (context: number): void => {
      const view = this.vm.memory.view;
      view.setUint32(context + field(XDP_MD, 'ingress_ifindex'), ingress, true);
      view.setUint32(context + field(XDP_MD, 'rx_queue_index'), rxQueue, true);
    };
    return this.runOnPacket(packet, XDP_MD, false, env, repeat, fill, ({ retval, durationNs }) => {
      const result: VmRunResult = { retval, durationNs, data: packet.read(true), trace: [...env.trace] };
      if (options.ctx !== undefined) {
        const out = new DataView(new ArrayBuffer(XDP_MD.size));
        out.setUint32(field(XDP_MD, 'data'), packet.metaLength, true);
        out.setUint32(field(XDP_MD, 'data_end'), packet.dataEnd - packet.dataMeta, true);
        out.setUint32(field(XDP_MD, 'ingress_ifindex'), ingress, true);
        out.setUint32(field(XDP_MD, 'rx_queue_index'), rxQueue, true);
        result.ctx = new Uint8Array(out.buffer);
      }
      return result;
    });
  }

  private runSkb(options: VmRunOptions, env: RunEnvironment, repeat: number): VmRunResult {
    const data = options.data ?? new Uint8Array(0);
    if (data.length < ETH_HLEN) throw new RunInputError(`skb data is ${data.length} bytes, shorter than an Ethernet header (${ETH_HLEN})`);
    const networkHeader = NETWORK_HEADER_BYTES[(data[12]! << 8) | data[13]!];
    if (networkHeader !== undefined && data.length < ETH_HLEN + networkHeader.bytes) {
      throw new RunInputError(`skb data is ${data.length} bytes: an ${networkHeader.name} frame needs at least ${ETH_HLEN + networkHeader.bytes} (Ethernet + ${networkHeader.bytes}-byte ${networkHeader.name} header; the kernel's -EINVAL)`);
    }
    const ctxIn = new Uint8Array(SKB.size);
    if (options.ctx !== undefined) {
      this.checkContextSize(options.ctx, SKB.size, 'struct __sk_buff');
      ctxIn.set(options.ctx.subarray(0, SKB.size));
      for (const f of SKB.fields) {
        if (SKB_CTX_FIELDS.includes(f.name)) continue;
        const inside = (o: number): boolean => SKB.fields.some((g) => SKB_CTX_FIELDS.includes(g.name) && o >= g.offset && o < g.offset + g.size);
        for (let o = f.offset; o < f.offset + f.size; o++) {
          if (ctxIn[o] !== 0 && !inside(o)) throw new RunInputError(`__sk_buff.${f.name} must be zero in ctx_in (BPF_PROG_TEST_RUN accepts only ${SKB_CTX_FIELDS.join(', ')})`);
        }
      }
    }
    const l2 = L2_SKB_TYPES.has(this.type);
    const memory = this.vm.memory;
    const packet = new PacketBuffer(memory, data, 'skb', SKB_HEADROOM, 0);
    if (!l2) packet.setBounds({ dataMeta: packet.data + ETH_HLEN, data: packet.data + ETH_HLEN, dataEnd: packet.dataEnd });
    const fill = (context: number): void => {
      memory.u8.set(ctxIn, context);
      const view = memory.view;
      const at = (name: string): number => context + field(SKB, name);
      const u32 = (name: string, value: number): void => view.setUint32(at(name), value, true);
      const etherType = (data[12]! << 8) | data[13]!;
      u32('len', packet.length);
      u32('protocol', ((etherType & 0xff) << 8) | (etherType >> 8));
      u32('pkt_type', packetType(data));
      if (view.getUint32(at('ifindex'), true) === 0) u32('ifindex', LOOPBACK_IFINDEX);
      if (view.getUint32(at('wire_len'), true) === 0) u32('wire_len', packet.length);
    };
    const writable = this.spec.access !== undefined && this.spec.access.write.length > 0;
    return this.runOnPacket(packet, SKB, writable, env, repeat, fill, ({ retval, durationNs }, context) => {
      const output = memory.u8.slice(packet.macHeader, packet.dataEnd);
      // Programs that start at L3 get the frame back with a zeroed Ethernet header, as the kernel returns it.
      if (!l2) output.fill(0, 0, ETH_HLEN);
      const result: VmRunResult = { retval, durationNs, data: output, trace: [...env.trace] };
      if (options.ctx !== undefined) {
        const out = new Uint8Array(SKB.size);
        for (const f of SKB.fields.filter((g) => SKB_CTX_FIELDS.includes(g.name))) {
          out.set(memory.u8.subarray(context + f.offset, context + f.offset + f.size), f.offset);
        }
        result.ctx = out;
      }
      return result;
    });
  }

  /**
   * Runs the program on `packet` with its context struct `layout` in a new context region:
   * `fill` writes the context, the 32-bit data, data_end and data_meta fields follow the packet's
   * bounds (helpers move them), `collect` builds the result from the run. The packet and the
   * region are released however the run ends.
   */
  private runOnPacket(
    packet: PacketBuffer,
    layout: ContextLayout,
    writable: boolean,
    env: RunEnvironment,
    repeat: number,
    fill: (context: number) => void,
    collect: (run: { retval: number; durationNs: number }, context: number) => VmRunResult,
  ): VmRunResult {
    const memory = this.vm.memory;
    let region: Region | undefined;
    try {
      region = memory.allocateRegion(layout.size, 'context', layout.struct, writable);
      const context = region.start;
      fill(context);
      // memory.view is re-read on every change: a helper may grow the memory during the run.
      const bound = (name: string, value: number): void => memory.view.setUint32(context + field(layout, name), value, true);
      packet.onBoundsChange = (b): void => {
        bound('data', b.data);
        bound('data_end', b.dataEnd);
        bound('data_meta', b.dataMeta);
      };
      packet.onBoundsChange(packet);
      env.packet = packet;
      const result = collect(this.execute(context, env, repeat), context);
      if (env.redirect !== undefined) result.redirect = env.redirect;
      return result;
    } finally {
      if (region !== undefined) memory.freeRegion(region);
      packet.release();
    }
  }

  /** Tracing and other programs: the ctx bytes are the context as they are (a tracepoint record, pt_regs, raw tp args). */
  private runRaw(options: VmRunOptions, env: RunEnvironment, repeat: number): VmRunResult {
    const ctx = options.ctx ?? new Uint8Array(0);
    if (options.data !== undefined && options.data.length > 0) throw new RunInputError(`${this.spec.name} programs take no data, only ctx`);
    if (ctx.length > this.spec.contextSize) throw new RunInputError(`ctx is ${ctx.length} bytes, more than the ${this.spec.contextSize} a ${this.spec.name} context has`);
    const memory = this.vm.memory;
    const region = memory.allocateRegion(Math.max(ctx.length, 1), 'context', `${this.spec.name} context`, true);
    try {
      memory.u8.set(ctx, region.start);
      const { retval, durationNs } = this.execute(region.start, env, repeat);
      return { retval, durationNs, trace: [...env.trace], ...(options.ctx !== undefined ? { ctx: memory.u8.slice(region.start, region.start + ctx.length) } : {}) };
    } finally {
      memory.freeRegion(region);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    livePrograms.delete(this.id);
    this.releaseFunctionPointers();
  }
}

/** eth_type_trans's pkt_type on the loopback device (address 00:00:00:00:00:00). */
function packetType(frame: Uint8Array): number {
  if (frame[0]! & 1) return frame.subarray(0, 6).every((b) => b === 0xff) ? PACKET_BROADCAST : PACKET_MULTICAST;
  return frame.subarray(0, 6).every((b) => b === 0) ? PACKET_HOST : PACKET_OTHERHOST;
}
