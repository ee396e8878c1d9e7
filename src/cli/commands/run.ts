/**
 * `tsbpf run`: runs an XDP, tc or socket-filter program of an object (or of
 * an assembly source) over one packet (--data) or a capture (--pcap,
 * streamed one packet at a time), in the VM or in the kernel
 * (BPF_PROG_TEST_RUN), and writes the packets the program let through to a
 * pcap.
 */
import { basename, extname } from 'node:path';
import { AsmError, assemble } from '../../isa/index.ts';
import { BpfSyscallError } from '../../kernel/errors.ts';
import type { BpfProgram, RunResult } from '../../backend/index.ts';
import { CaptureReader, PcapError, PcapWriter, decodePacket, toEthernet, type CaptureWriter } from '../../net/index.ts';
import { collectionFromInstructions } from '../../object/from-instructions.ts';
import { loadCollectionSpec } from '../../object/load.ts';
import type { CollectionSpec } from '../../object/spec.ts';
import { ProgramType, programTypeName } from '../../uapi/enums.ts';
import { TcAction, XdpAction } from '../../uapi/program-types.ts';
import { loadVmCollection } from '../../vm/collection.ts';
import { ETH_HLEN } from '../../vm/helpers/packet.ts';
import { RunInputError } from '../../vm/runtime.ts';
import { type CliCommand, type CliIo, UsageError, readInputFile, unexpectedArgument, unknownOption } from '../command.ts';
import { AsmFileError } from './asm.ts';

const usage = `usage: tsbpf run FILE.o [--program NAME] (--pcap IN.pcap | --data HEX)
                 [--backend vm|kernel] [--jit] [--repeat N] [-o|--out PASSED.pcap]
                 [--verbose] [--json]
       tsbpf run PROG.s --type SECTION (--pcap IN.pcap | --data HEX) [...]
       tsbpf run --filter 'EXPRESSION' (--pcap IN.pcap | --data HEX) [...]

Runs an XDP, tc (sched_cls/sched_act) or socket-filter program of FILE.o the
way BPF_PROG_TEST_RUN does, with every map of the object created and filled.
A file that is not an ELF object is read as assembly (llvm-objdump, kernel
log or uBPF syntax, see 'tsbpf asm') and needs --type.

  --filter EXPR   instead of FILE: a tcpdump filter expression, compiled to
                  classic BPF and converted to an XDP program (see 'tsbpf
                  filter'): XDP_PASS for the packets it accepts, XDP_DROP
                  for the others, on either backend
  --program NAME  the program to run (needed when the object has several)
  --type SECTION  for an assembly source: the program type, as a libbpf
                  section name (xdp, tc, socket)
  --data HEX      one frame (Ethernet header first) as hex; prints the return
                  value, the output frame and the duration
  --pcap FILE     every packet of a pcap/pcapng capture, streamed; prints the
                  count per verdict and packets per second
  --backend B     vm (default: the userspace VM) or kernel (bpf(), needs root)
  --jit           VM backend: compile to WebAssembly instead of interpreting
  --repeat N      run each input N times (durations are the mean), default 1
  -o, --out FILE  write the packets that passed (XDP_PASS/XDP_TX, TC_ACT_OK,
                  socket filter non-zero, truncated to the returned length)
                  to a pcap
  --verbose       with --pcap: one line per packet
  --json          machine-readable output
`;

interface Options {
  file: string;
  filter?: string;
  program?: string;
  type?: string;
  pcap?: string;
  data?: Uint8Array;
  backend: 'vm' | 'kernel';
  jit: boolean;
  repeat: number;
  out?: string;
  verbose: boolean;
  json: boolean;
}

function parseHex(text: string): Uint8Array {
  const clean = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new UsageError(`--data must be an even number of hex digits, got '${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`);
  return Uint8Array.from(clean.match(/../g)!, (b) => Number.parseInt(b, 16));
}

function parseArgs(args: string[]): Options {
  const options: Partial<Options> & { backend: 'vm' | 'kernel'; jit: boolean; repeat: number; verbose: boolean; json: boolean } = { backend: 'vm', jit: false, repeat: 1, verbose: false, json: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--program') options.program = value();
    else if (arg === '--filter') options.filter = value();
    else if (arg === '--type') options.type = value();
    else if (arg === '--pcap') options.pcap = value();
    else if (arg === '--data') options.data = parseHex(value());
    else if (arg === '--backend') {
      const b = value();
      if (b !== 'vm' && b !== 'kernel') throw new UsageError(`--backend is vm or kernel, got '${b}'`);
      options.backend = b;
    } else if (arg === '--jit') options.jit = true;
    else if (arg === '--repeat') {
      const text = value();
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < 1 || n > 1e9) throw new UsageError(`--repeat must be a positive integer, got '${text}'`);
      options.repeat = n;
    } else if (arg === '--out' || arg === '-o') options.out = value();
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--json') options.json = true;
    else if (arg.startsWith('-')) throw unknownOption(arg);
    else if (options.file === undefined) options.file = arg;
    else throw unexpectedArgument(arg);
  }
  if (options.filter !== undefined) {
    if (options.file !== undefined || options.type !== undefined) throw new UsageError('--filter replaces FILE and --type');
    options.file = 'filter';
  }
  if (options.file === undefined) throw new UsageError('missing FILE.o or PROG.s');
  if ((options.pcap === undefined) === (options.data === undefined)) throw new UsageError('give exactly one of --pcap and --data');
  if (options.jit && options.backend === 'kernel') throw new UsageError('--jit is for the vm backend (the kernel JITs on its own)');
  if (options.out !== undefined && options.pcap === undefined) throw new UsageError('--out needs --pcap');
  return options as Options;
}

const RUNNABLE = new Set<number>([ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.SOCKET_FILTER]);

function pickProgram(spec: CollectionSpec, name: string | undefined): string {
  const runnable = Object.values(spec.programs).filter((p) => RUNNABLE.has(p.type));
  if (name === undefined) {
    if (runnable.length === 1) return runnable[0]!.name;
    if (runnable.length === 0) {
      const programs = Object.values(spec.programs).map((p) => `${p.name} (${p.type === 0 ? 'unknown type' : programTypeName(p.type)})`);
      throw new UsageError(`only XDP, tc and socket-filter programs can run; ${programs.length === 0 ? 'there are no programs' : `there are only ${programs.join(', ')}`}`);
    }
    throw new UsageError(`--program is needed: the object has several: ${runnable.map((p) => p.name).join(', ')}`);
  }
  const program = spec.programs[name];
  if (program === undefined) throw new UsageError(`no program '${name}' in the object (programs: ${Object.keys(spec.programs).join(', ')})`);
  if (!RUNNABLE.has(program.type)) throw new UsageError(`program '${name}' is ${program.type === 0 ? 'of unknown type' : programTypeName(program.type)}; tsbpf run runs XDP, tc and socket-filter programs`);
  return name;
}

/** What a program's return value means for the packet. */
interface Verdict {
  /** XDP_PASS, TC_ACT_SHOT, accept 64... */
  label: string;
  /** Bytes of the output frame that go on (undefined: the packet stops here). */
  passBytes?: number;
}

function actionName(table: Record<string, number>, prefix: string, value: number): string {
  const signed = value | 0;
  const name = Object.entries(table).find(([, v]) => v === signed)?.[0];
  return name !== undefined ? `${prefix}${name}` : `${prefix}${signed}`;
}

function verdictOf(type: number, result: RunResult, inputLength: number): Verdict {
  const outLength = result.data?.length ?? inputLength;
  if (type === ProgramType.XDP) {
    const label = actionName(XdpAction, 'XDP_', result.retval);
    return { label, passBytes: result.retval === XdpAction.PASS || result.retval === XdpAction.TX ? outLength : undefined };
  }
  if (type === ProgramType.SOCKET_FILTER) {
    // The filter sees the packet from the network header; its return value truncates that part.
    if (result.retval === 0) return { label: 'drop' };
    const network = inputLength - ETH_HLEN;
    const bytes = Math.min(result.retval >>> 0, network);
    return { label: bytes < network ? `accept ${bytes}` : 'accept', passBytes: ETH_HLEN + bytes };
  }
  const label = actionName(TcAction, 'TC_ACT_', result.retval);
  return { label, passBytes: result.retval === TcAction.OK ? outLength : undefined };
}

interface Backend {
  program: BpfProgram;
  type: number;
  close(): void;
}

async function openBackend(options: Options, spec: CollectionSpec, name: string): Promise<Backend> {
  const type = spec.programs[name]!.type;
  if (options.backend === 'vm') {
    const collection = loadVmCollection(spec, { jit: options.jit });
    return { program: collection.program(name), type, close: () => collection.close() };
  }
  const { loadCollection } = await import('../../kernel/collection.ts');
  const collection = loadCollection(spec);
  return { program: collection.programs[name]!, type, close: () => collection.close() };
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** An ELF object as it is, anything else as an assembly source of the `--type` given. */
async function loadSpec(options: Options, io: CliIo): Promise<CollectionSpec> {
  if (options.filter !== undefined) {
    const { compileFilter, convertCbpf } = await import('../../cbpf/index.ts');
    return collectionFromInstructions({ name: options.program ?? 'filter', section: 'xdp', instructions: convertCbpf(compileFilter(options.filter), 'xdp') });
  }
  const bytes = await readInputFile(options.file, io);
  if (ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    if (options.type !== undefined) throw new UsageError(`--type is for assembly sources: the sections of ${options.file} give the program types`);
    return loadCollectionSpec(bytes);
  }
  if (options.type === undefined) throw new UsageError(`${options.file} is not an ELF object; to run it as assembly give --type SECTION (xdp, tc or socket)`);
  let instructions;
  try {
    instructions = assemble(new TextDecoder().decode(bytes));
  } catch (error) {
    throw error instanceof AsmError ? new AsmFileError(options.file, error) : error;
  }
  // The file name as a C identifier, so the program has the same name on both backends (the kernel's must be one).
  const name = options.program ?? basename(options.file, extname(options.file)).replace(/[^A-Za-z0-9_]/g, '_');
  return collectionFromInstructions({ name, section: options.type, instructions });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  const spec = await loadSpec(options, io);
  const name = pickProgram(spec, options.program);
  const backend = await openBackend(options, spec, name);
  try {
    if (options.data !== undefined) return runOnce(backend, options, options.data, io);
    return await runCapture(backend, options, io);
  } finally {
    backend.close();
  }
}

function runOnce(backend: Backend, options: Options, data: Uint8Array, io: CliIo): number {
  const result = backend.program.run({ data, repeat: options.repeat });
  const verdict = verdictOf(backend.type, result, data.length);
  if (options.json) {
    io.stdout(`${JSON.stringify({ program: backend.program.name, backend: options.backend, retval: result.retval, verdict: verdict.label, data: result.data ? hex(result.data) : undefined, durationNs: result.durationNs })}\n`);
  } else {
    io.stdout(`retval ${result.retval} (${verdict.label})\n`);
    if (result.data !== undefined) io.stdout(`data ${hex(result.data)} (${result.data.length} bytes)\n`);
    io.stdout(`duration ${result.durationNs} ns${options.repeat > 1 ? ` (mean of ${options.repeat})` : ''}\n`);
  }
  return 0;
}

async function runCapture(backend: Backend, options: Options, io: CliIo): Promise<number> {
  const reader = await CaptureReader.open(options.pcap!);
  let writer: CaptureWriter | undefined;
  const counts = new Map<string, number>();
  const verbose: object[] = [];
  let packets = 0;
  let passed = 0;
  let refused = 0;
  let programNs = 0;
  const durations = new DurationHistogram();
  const start = process.hrtime.bigint();
  try {
    if (options.out !== undefined) writer = new PcapWriter(options.out);
    for await (const packet of reader) {
      const index = packets++;
      let frame: Uint8Array = packet.data;
      let result: RunResult;
      try {
        frame = toEthernet(packet.linkType, packet.data, `packet ${index + 1} (offset ${packet.offset})`);
        result = backend.program.run({ data: frame, repeat: options.repeat });
      } catch (error) {
        // A frame without a link header, or an input BPF_PROG_TEST_RUN refuses (too short...): counted, reported, not fatal.
        const refusedInput = error instanceof RunInputError || error instanceof PcapError || (error instanceof BpfSyscallError && error.code === 'EINVAL');
        if (!refusedInput) throw error;
        refused++;
        counts.set('refused', (counts.get('refused') ?? 0) + 1);
        if (options.verbose) report(io, options, verbose, { packet: index + 1, length: frame.length, verdict: 'refused', reason: (error as Error).message });
        continue;
      }
      programNs += result.durationNs;
      durations.add(result.durationNs);
      const verdict = verdictOf(backend.type, result, frame.length);
      counts.set(verdict.label, (counts.get(verdict.label) ?? 0) + 1);
      if (verdict.passBytes !== undefined) {
        passed++;
        // Socket filters cannot change the packet: pass the input frame (the test run returns its MAC header zeroed).
        const out = backend.type === ProgramType.SOCKET_FILTER ? frame.subarray(0, verdict.passBytes) : (result.data ?? frame);
        writer?.write({ data: out, timestamp: packet.timestamp, originalLength: Math.max(out.length, verdict.passBytes) });
      }
      if (options.verbose) {
        report(io, options, verbose, { packet: index + 1, length: frame.length, retval: result.retval, verdict: verdict.label, durationNs: result.durationNs, summary: decodePacket(frame).summary });
      }
    }
  } finally {
    writer?.close();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSecond = seconds > 0 ? Math.round(packets / seconds) : 0;
  const summary = { program: backend.program.name, backend: options.backend, packets, passed, refused, verdicts: Object.fromEntries(counts), seconds, packetsPerSecond: perSecond, meanProgramNs: packets - refused > 0 ? Math.round(programNs / (packets - refused)) : 0, medianProgramNs: durations.median() };
  if (options.json) {
    io.stdout(`${JSON.stringify(options.verbose ? { ...summary, perPacket: verbose } : summary)}\n`);
  } else {
    io.stdout(`${packets} packets, ${passed} passed${refused ? `, ${refused} refused by the test run` : ''}${options.out ? ` (written to ${options.out})` : ''}\n`);
    for (const [label, n] of [...counts].sort((a, b) => b[1] - a[1])) io.stdout(`  ${label.padEnd(20)} ${n}\n`);
    io.stdout(`${perSecond} packets/s (${seconds.toFixed(3)} s), program ${summary.medianProgramNs} ns/packet (median; mean ${summary.meanProgramNs}, with warm-up)\n`);
  }
  return 0;
}

/**
 * Run times in buckets 5% wide, so the median of a capture of any size
 * costs constant memory; within 5% of the exact median. The mean is skewed
 * by the first runs (V8 compiling the interpreter or the module).
 */
class DurationHistogram {
  private static readonly STEP = Math.log(1.05);
  private readonly buckets = new Map<number, number>();
  private count = 0;

  add(ns: number): void {
    const bucket = ns < 1 ? -1 : Math.floor(Math.log(ns) / DurationHistogram.STEP);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.count++;
  }

  median(): number {
    let seen = 0;
    for (const [bucket, n] of [...this.buckets].sort((a, b) => a[0] - b[0])) {
      seen += n;
      if (seen * 2 >= this.count) return bucket < 0 ? 0 : Math.round(Math.exp((bucket + 0.5) * DurationHistogram.STEP));
    }
    return 0;
  }
}

function report(io: CliIo, options: Options, collected: object[], line: { packet: number; length: number; verdict: string; retval?: number; durationNs?: number; summary?: string; reason?: string }): void {
  if (options.json) {
    collected.push(line);
    return;
  }
  io.stdout(`#${line.packet} ${line.length} bytes ${line.verdict}${line.retval !== undefined ? ` (${line.retval})` : ''}  ${line.summary ?? line.reason ?? ''}\n`);
}

export const command: CliCommand = {
  name: 'run',
  summary: 'run an XDP, tc or socket-filter program of an object over a packet or a pcap (VM or kernel)',
  usage,
  run,
};
