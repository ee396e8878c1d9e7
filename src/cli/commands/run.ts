/**
 * `tsbpf run`: runs an XDP, tc or socket-filter program of an object (or of
 * an assembly source) over one packet (--data) or a capture (--pcap,
 * streamed one packet at a time), in the VM or in the kernel
 * (BPF_PROG_TEST_RUN), and writes the packets the program let through to a
 * pcap.
 */
import { BpfSyscallError } from '../../kernel/index.ts';
import type { BpfProgram, RunResult } from '../../backend/index.ts';
import { CaptureReader, LinkType, PcapError, PcapWriter, decodePacket, toEthernet, type ByteSource, type CaptureWriter } from '../../net/index.ts';
import { collectionFromInstructions } from '../../object/from-instructions.ts';
import type { CollectionSpec } from '../../object/spec.ts';
import { ProgramType, programTypeName } from '../../uapi/enums.ts';
import { TcAction, XdpAction } from '../../uapi/program-types.ts';
import { loadVmCollection } from '../../vm/collection.ts';
import { ETH_HLEN } from '../../vm/helpers/packet.ts';
import { RunInputError, RunInterruptedError, VmProgram } from '../../vm/runtime.ts';
import { TALLIED_RETVALS } from '../../vm/index.ts';
import { type CliCommand, type CliIo, UsageError, parseArguments, unexpectedArgument } from '../command.ts';
import { loadProgramSource } from '../program-source.ts';

const usage = `usage: tsbpf run FILE.o [--program NAME] (--pcap IN.pcap | --data HEX)
                 [--backend vm|kernel] [--jit] [--[no-]verify] [--repeat N] [-o|--out PASSED.pcap]
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
  --pcap FILE     every packet of a pcap/pcapng capture, streamed ('-':
                  standard input, e.g. from tcpdump -w -); prints the
                  count per verdict and packets per second
  --backend B     vm (default: the userspace VM) or kernel (bpf(), needs root)
  --jit           VM backend: compile to WebAssembly instead of interpreting
  --verify        kernel backend: check the program with tsbpf's verifier
                  before the kernel sees it (a kernel refusal is explained
                  by tsbpf's verifier either way)
  --no-verify     VM backend: load without verifying (every access stays
                  checked at run time)
  --repeat N      run each input N times (durations are the mean), default 1;
                  on the VM any number (Ctrl-C stops the runs and prints
                  what was measured), on the kernel up to 2^32-1
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
  /** Undefined: the backend's default (the VM verifies, the kernel verifies by itself). */
  verify?: boolean;
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
  const positional = parseArguments(args, (arg, value) => {
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
    else if (arg === '--verify') options.verify = true;
    else if (arg === '--no-verify') options.verify = false;
    else if (arg === '--repeat') {
      const text = value();
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) throw new UsageError(`--repeat must be a positive integer up to 2^53-1, got '${text}'`);
      options.repeat = n;
    } else if (arg === '--out' || arg === '-o') options.out = value();
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--json') options.json = true;
    else return false;
    return true;
  });
  if (positional.length > 1) throw unexpectedArgument(positional[1]!);
  options.file = positional[0];
  if (options.filter !== undefined) {
    if (options.file !== undefined || options.type !== undefined) throw new UsageError('--filter replaces FILE and --type');
    options.file = 'filter';
  }
  if (options.file === undefined) throw new UsageError('missing FILE.o or PROG.s');
  if ((options.pcap === undefined) === (options.data === undefined)) throw new UsageError('give exactly one of --pcap and --data');
  if (options.jit && options.backend === 'kernel') throw new UsageError('--jit is for the vm backend (the kernel JITs on its own)');
  if (options.out !== undefined && options.pcap === undefined) throw new UsageError('--out needs --pcap');
  if (options.backend === 'kernel' && options.repeat > KERNEL_MAX_REPEAT) throw new UsageError(`--repeat ${options.repeat}: the kernel's test run takes at most 2^32-1 (a __u32)`);
  return options as Options;
}

/** BPF_PROG_TEST_RUN's repeat is a __u32. */
const KERNEL_MAX_REPEAT = 0xffffffff;
/** A --repeat from which the run says on standard error how to stop it. */
const LONG_REPEAT = 1_000_000;
/** The shell's exit code for a command ended by SIGINT. */
const EXIT_SIGINT = 130;

/**
 * Ctrl-C while --repeat runs: the VM's runs stop between chunks
 * (VmProgram.runAsync with this signal), the kernel's test run returns
 * EINTR; either way what was measured is printed. Other runs keep the
 * default (the process ends).
 */
function interruptOnSigint(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort(new Error('SIGINT'));
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
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
    const collection = loadVmCollection(spec, { jit: options.jit, verify: options.verify !== false });
    return { program: collection.program(name), type, close: () => collection.close() };
  }
  const { loadCollection } = await import('../../kernel/collection.ts');
  const collection = loadCollection(spec, { verify: options.verify === true });
  return { program: collection.programs[name]!, type, close: () => collection.close() };
}


/** An ELF object as it is, anything else as an assembly source of the `--type` given. */
async function loadSpec(options: Options, io: CliIo): Promise<CollectionSpec> {
  if (options.filter !== undefined) {
    const { compileFilter, convertCbpf } = await import('../../cbpf/index.ts');
    return collectionFromInstructions({ name: options.program ?? 'filter', section: 'xdp', instructions: convertCbpf(compileFilter(options.filter), 'xdp') });
  }
  return loadProgramSource(options.file, options.type, options.program, io);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  const spec = await loadSpec(options, io);
  const name = pickProgram(spec, options.program);
  const backend = await openBackend(options, spec, name);
  const interrupt = options.repeat > 1 ? interruptOnSigint() : undefined;
  try {
    if (options.repeat >= LONG_REPEAT) io.stderr(`running ${options.repeat} times per input; Ctrl-C stops and prints what was measured\n`);
    if (options.data !== undefined) return await runOnce(backend, options, options.data, io, interrupt?.signal);
    return await runCapture(backend, options, io, interrupt?.signal);
  } finally {
    interrupt?.dispose();
    backend.close();
  }
}

/**
 * One run of --data, or --repeat runs: on the VM through runAsync, which
 * Ctrl-C (`signal`) stops between chunks; on the kernel, one test run that
 * a signal ends with EINTR.
 */
async function repeatedRun(program: BpfProgram, data: Uint8Array, repeat: number, signal: AbortSignal | undefined): Promise<RunResult> {
  if (program instanceof VmProgram && signal !== undefined) return program.runAsync({ data, repeat, signal });
  try {
    return program.run({ data, repeat });
  } catch (error) {
    if (signal !== undefined && error instanceof BpfSyscallError && error.code === 'EINTR') throw new RunInterruptedError(program.name, 0, repeat, 0, 0, error);
    throw error;
  }
}

async function runOnce(backend: Backend, options: Options, data: Uint8Array, io: CliIo, signal: AbortSignal | undefined): Promise<number> {
  let result: RunResult;
  try {
    result = await repeatedRun(backend.program, data, options.repeat, signal);
  } catch (error) {
    if (!(error instanceof RunInterruptedError)) throw error;
    reportInterrupted(backend, options, error, io);
    return EXIT_SIGINT;
  }
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

/** What --data --repeat measured before Ctrl-C (the kernel's test run reports nothing but EINTR). */
function reportInterrupted(backend: Backend, options: Options, error: RunInterruptedError, io: CliIo): void {
  const kernel = options.backend === 'kernel';
  if (options.json) {
    io.stdout(`${JSON.stringify({ program: backend.program.name, backend: options.backend, interrupted: true, repeats: error.repeats, requested: error.requested, ...(kernel ? {} : { retval: error.retval, durationNs: error.durationNs }) })}\n`);
    return;
  }
  io.stdout(`interrupted (SIGINT) after ${kernel ? 'an unknown number' : error.repeats} of ${error.requested} runs\n`);
  if (kernel || error.repeats === 0) return;
  io.stdout(`retval ${error.retval} (${verdictOf(backend.type, { retval: error.retval, durationNs: error.durationNs }, 0).label}, the last run)\n`);
  io.stdout(`duration ${error.durationNs} ns (mean of ${error.repeats})\n`);
}

/** One packet of a capture and what the program did with it. */
interface PacketOutcome {
  /** 0-based position in the capture. */
  index: number;
  /** The frame the program ran on (Ethernet). */
  frame: Uint8Array;
  timestamp: () => bigint;
  /** The packet's result, or why the test run refused it. */
  result: RunResult | Error;
}

/** Counts, pcap output and per-packet lines of a capture run, fed one packet at a time by either path. */
class CaptureReport {
  readonly counts = new Map<string, number>();
  readonly lines: object[] = [];
  packets = 0;
  passed = 0;
  refused = 0;
  programNs = 0;
  /** Batches of the streaming path (the first one's time includes the engine's first run: compilation, cold code). */
  batches = 0;
  /** Ctrl-C stopped the --repeat runs: the counts are of the packets before it. */
  interrupted = false;
  readonly durations = new DurationHistogram();
  /** Why inputs were refused, with how many each. */
  readonly refusedReasons = new Map<string, number>();

  constructor(
    private readonly backend: Backend,
    private readonly options: Options,
    private readonly io: CliIo,
    private readonly writer: CaptureWriter | undefined,
  ) {}

  /**
   * A run whose verdict depends on its return value only (XDP, tc) and that
   * is neither written nor reported: counted through a per-value cache.
   */
  addVerdictOnly(retval: number, runs = 1): void {
    this.packets += runs;
    let cached = this.byRetval.get(retval);
    if (cached === undefined) {
      cached = verdictOf(this.backend.type, { retval, durationNs: 0 }, 0);
      this.byRetval.set(retval, cached);
    }
    this.counts.set(cached.label, (this.counts.get(cached.label) ?? 0) + runs);
    if (cached.passBytes !== undefined) this.passed += runs;
  }

  private readonly byRetval = new Map<number, Verdict>();

  add(outcome: PacketOutcome): void {
    const { frame, result, index } = outcome;
    this.packets++;
    const options = this.options;
    if (result instanceof Error) {
      this.refused++;
      this.counts.set('refused', (this.counts.get('refused') ?? 0) + 1);
      // Grouped without the packet's own place, so that one cause over a whole capture is one line.
      const reason = result.message.replace(/^packet at offset \d+: /, '');
      this.refusedReasons.set(reason, (this.refusedReasons.get(reason) ?? 0) + 1);
      if (options.verbose) report(this.io, options, this.lines, { packet: index + 1, length: frame.length, verdict: 'refused', reason: result.message });
      return;
    }
    const verdict = verdictOf(this.backend.type, result, frame.length);
    this.counts.set(verdict.label, (this.counts.get(verdict.label) ?? 0) + 1);
    if (verdict.passBytes !== undefined) {
      this.passed++;
      // Socket filters cannot change the packet: pass the input frame (the test run returns its MAC header zeroed).
      const out = this.backend.type === ProgramType.SOCKET_FILTER ? frame.subarray(0, verdict.passBytes) : (result.data ?? frame);
      this.writer?.write({ data: out, timestamp: outcome.timestamp(), originalLength: Math.max(out.length, verdict.passBytes) });
    }
    if (options.verbose) {
      report(this.io, options, this.lines, { packet: index + 1, length: frame.length, retval: result.retval, verdict: verdict.label, durationNs: result.durationNs >= 0 ? result.durationNs : undefined, summary: decodePacket(frame).summary });
    }
  }
}

/** A refused input: one the test run rejects (too short...) or a frame without a link header; counted, reported, not fatal. */
function isRefusedInput(error: unknown): boolean {
  return error instanceof RunInputError || error instanceof PcapError || (error instanceof BpfSyscallError && error.code === 'EINVAL');
}

/** Distinct refusal reasons printed after a capture's summary. */
const MAX_REASONS_SHOWN = 3;

async function runCapture(backend: Backend, options: Options, io: CliIo, signal?: AbortSignal): Promise<number> {
  let writer: CaptureWriter | undefined;
  let streamed = false;
  const start = process.hrtime.bigint();
  let captured: CaptureReport;
  try {
    if (options.out !== undefined) writer = new PcapWriter(options.out);
    const program = backend.program;
    captured = new CaptureReport(backend, options, io, writer);
    if (program instanceof VmProgram && options.repeat === 1) {
      streamed = true;
      await streamCapture(program, captureSource(options.pcap!, io), captured, writer !== undefined, options.verbose);
    } else await runEachPacket(backend, options, captured, io, signal);
  } finally {
    writer?.close();
  }
  const { packets, passed, refused } = captured;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSecond = seconds > 0 ? Math.round(packets / seconds) : 0;
  const runs = packets - refused;
  const meanProgramNs = runs > 0 ? Math.round(captured.programNs / runs) : 0;
  // The streaming path times batches (copies included), not single runs: it has a mean, no median.
  const medianProgramNs = streamed ? undefined : captured.durations.median();
  const summary = { program: backend.program.name, backend: options.backend, packets, passed, refused, verdicts: Object.fromEntries(byCount(captured.counts)), ...(refused > 0 ? { refusedReasons: Object.fromEntries(captured.refusedReasons) } : {}), seconds, packetsPerSecond: perSecond, meanProgramNs, medianProgramNs, ...(streamed ? { batches: captured.batches } : {}), ...(captured.interrupted ? { interrupted: true } : {}) };
  if (options.json) {
    io.stdout(`${JSON.stringify(options.verbose ? { ...summary, perPacket: captured.lines } : summary)}\n`);
  } else {
    io.stdout(`${packets} packets, ${passed} passed${refused ? `, ${refused} refused by the test run` : ''}${options.out ? ` (written to ${options.out})` : ''}\n`);
    for (const [label, n] of byCount(captured.counts)) io.stdout(`  ${label.padEnd(20)} ${n}\n`);
    const batches = `${captured.batches} batch${captured.batches === 1 ? '' : 'es'}`;
    const time = streamed ? `${meanProgramNs} ns/packet (streamed in ${batches}, copies and the engine's start-up included)` : `${medianProgramNs} ns/packet (median; mean ${meanProgramNs}, with warm-up)`;
    io.stdout(`${perSecond} packets/s (${seconds.toFixed(3)} s), program ${time}\n`);
    if (captured.interrupted) io.stdout(`interrupted (SIGINT): the packets before it, each run ${options.repeat} times\n`);
  }
  if (!options.json) {
    const reasons = [...captured.refusedReasons].sort((a, b) => b[1] - a[1]);
    for (const [reason, n] of reasons.slice(0, MAX_REASONS_SHOWN)) io.stderr(`refused ${n} of ${packets}: ${reason}\n`);
    if (reasons.length > MAX_REASONS_SHOWN) io.stderr(`(${reasons.length - MAX_REASONS_SHOWN} more reasons: --verbose lists each packet's)\n`);
  }
  if (captured.interrupted) return EXIT_SIGINT;
  // Nothing ran (a link type no program can be given, frames too short...): the reasons above say why.
  return packets > 0 && refused === packets ? 1 : 0;
}

/** `--pcap`'s argument as a source: '-' is standard input, streamed (a capture piped from `tcpdump -w -` may never end). */
function captureSource(path: string, io: CliIo): ByteSource {
  if (path !== '-') return path;
  if (io.stdinStream === undefined) throw new UsageError('--pcap -: standard input cannot be streamed here');
  return io.stdinStream();
}

/** The VM's streaming path (VmProgram.runCapture): packets copied into VM memory in batches, one engine set-up per batch. */
async function streamCapture(program: VmProgram, source: ByteSource, captured: CaptureReport, output: boolean, verbose: boolean): Promise<void> {
  const verdictOnly = !output && !verbose && program.type !== ProgramType.SOCKET_FILTER;
  for await (const batch of program.runCapture(source, { output })) {
    const packets = batch.packets;
    captured.programNs += batch.durationNs;
    captured.batches++;
    if (verdictOnly && batch.errors.size === 0) {
      // The engine's packet loop counted them, each value below its last counter (which counts the rest, none here):
      // no loop over the packets in JavaScript.
      const counted = batch.verdicts;
      const rest = counted === undefined ? 0 : counted.length - 1;
      if (counted !== undefined && counted[rest] === 0) {
        for (let retval = 0; retval < rest; retval++) if (counted[retval]! > 0) captured.addVerdictOnly(retval, counted[retval]!);
      } else tallyVerdicts(batch.retvals, packets.count, captured);
      continue;
    }
    for (let n = 0; n < packets.count; n++) {
      if (verdictOnly && !batch.errors.has(n)) {
        captured.addVerdictOnly(batch.retvals[n]!);
        continue;
      }
      const raw = packets.data(n);
      const error = batch.errors.get(n);
      let frame = raw;
      // runCapture ran other link types converted to Ethernet; the report shows the frame as the program saw it.
      if (error === undefined && packets.linkType[n] !== LinkType.ETHERNET) frame = toEthernet(packets.linkType[n]!, raw);
      const result: RunResult | Error = error ?? { retval: batch.retvals[n]!, durationNs: -1, data: batch.data?.[n] };
      captured.add({ index: captured.packets, frame, timestamp: () => packets.timestamp(n), result });
    }
  }
}

/** Verdict counts, most frequent first (ties by label): the same order whichever path counted them. */
function byCount(counts: ReadonlyMap<string, number>): Array<[string, number]> {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Return values below TALLIED_RETVALS (the packet loop's own bound) are tallied in an array; XDP's and tc's verdicts all are. */
const tally = new Float64Array(TALLIED_RETVALS);

/** Counts the verdicts of a batch's first `count` return values: an array increment per packet, one report update per value. */
function tallyVerdicts(retvals: Uint32Array, count: number, captured: CaptureReport): void {
  tally.fill(0);
  for (let n = 0; n < count; n++) {
    const retval = retvals[n]!;
    if (retval < TALLIED_RETVALS) tally[retval]!++;
    else captured.addVerdictOnly(retval);
  }
  for (let retval = 0; retval < TALLIED_RETVALS; retval++) if (tally[retval]! > 0) captured.addVerdictOnly(retval, tally[retval]!);
}

/** The per-packet path (the kernel's BPF_PROG_TEST_RUN, or --repeat): one run() per packet, each timed. */
async function runEachPacket(backend: Backend, options: Options, captured: CaptureReport, io: CliIo, signal?: AbortSignal): Promise<void> {
  const reader = await CaptureReader.open(captureSource(options.pcap!, io));
  let index = 0;
  for await (const packet of reader) {
    let frame: Uint8Array = packet.data;
    let result: RunResult | Error;
    try {
      frame = toEthernet(packet.linkType, packet.data, `packet ${index + 1} (offset ${packet.offset})`);
      result = await repeatedRun(backend.program, frame, options.repeat, signal);
      captured.programNs += result.durationNs;
      captured.durations.add(result.durationNs);
    } catch (error) {
      // Ctrl-C: the report covers the packets that ran to the end.
      if (error instanceof RunInterruptedError) {
        captured.interrupted = true;
        break;
      }
      if (!isRefusedInput(error)) throw error;
      result = error as Error;
    }
    captured.add({ index: index++, frame, timestamp: () => packet.timestamp, result });
  }
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

/** Packets `--json --verbose` lists, at most (its document is written at the end). */
const MAX_JSON_PACKETS = 1_000_000;

function report(io: CliIo, options: Options, collected: object[], line: { packet: number; length: number; verdict: string; retval?: number; durationNs?: number; summary?: string; reason?: string }): void {
  if (options.json) {
    // One JSON document holds every packet: a capture from a pipe may never end.
    if (collected.length === MAX_JSON_PACKETS) throw new UsageError(`--json --verbose keeps every packet in memory and stops at ${MAX_JSON_PACKETS} packets; --verbose prints each packet's line as it comes`);
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
