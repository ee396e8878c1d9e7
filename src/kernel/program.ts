import { encode } from '../isa/encoding.ts';
import type { Instruction } from '../isa/instruction.ts';
import { ProgramType, programTypeName } from '../uapi/enums.ts';
import { BpfCommand, attr, bpfError, scratch, tryBpfCall } from './bpf.ts';
import { BPF_OBJ_NAME_LEN, pinObject } from './map.ts';
import { KernelArgumentError, type Capability } from './errors.ts';
import { FdResource } from './fd.ts';
import { NativeBuffer, errnoValue } from './ffi.ts';
import { programInfo } from './info.ts';
import type { BpfProgram, RunOptions, RunResult } from '../backend/index.ts';

/** PROG_LOAD attr offsets (include/uapi/linux/bpf.h). */
const PL = {
  type: 0, insnCount: 4, insns: 8, license: 16, logLevel: 24, logSize: 28, logBuf: 32, kernVersion: 40, flags: 44, name: 48,
  ifindex: 64, expectedAttachType: 68, btfFd: 72, funcInfoRecSize: 76, funcInfo: 80, funcInfoCount: 88, lineInfoRecSize: 92,
  lineInfo: 96, lineInfoCount: 104, attachBtfId: 108, attachBtfObjFd: 112, fdArray: 120, logTrueSize: 140, size: 148,
};


export interface ProgramOptions {
  type: number;
  instructions: readonly Instruction[];
  /** Default 'GPL' (many helpers are GPL-only). */
  license?: string;
  name?: string;
  expectedAttachType?: number;
  /** BTF id of the attach target (fentry function, tp_btf typedef, LSM hook...). */
  attachBtfId?: number;
  /** fd of the BTF object holding attachBtfId (0 for vmlinux), or of the target program for freplace/fentry on BPF. */
  attachBtfObjFd?: number;
  kernelVersion?: number;
  flags?: number;
  /** Offload/dev-bound target interface. */
  ifindex?: number;
  /** BTF of the program (func_info/line_info refer to it). */
  btfFd?: number;
  /** Raw bpf_func_info records (insn_off, type_id), `funcInfoRecordSize` bytes each. */
  funcInfo?: Uint8Array;
  funcInfoRecordSize?: number;
  /** Raw bpf_line_info records, `lineInfoRecordSize` bytes each. */
  lineInfo?: Uint8Array;
  lineInfoRecordSize?: number;
  /** fds referenced by BPF_PSEUDO_MAP_IDX / kfunc btf fd indexes. */
  fdArray?: number[];
  /**
   * Verifier log: 0 = only on failure (level 1 retry), 1 = basic, 2 = every
   * instruction's state, each optionally with 4 (BPF_LOG_STATS: verification
   * time and stack depth; 4 alone logs only messages and statistics). With a
   * non-zero level the log is kept in `program.verifierLog`.
   */
  logLevel?: 0 | 1 | 2 | 4 | 5 | 6;
  /** Initial log buffer size (grows on ENOSPC up to `maxLogSize`). */
  logSize?: number;
  maxLogSize?: number;
}

/** Kernel log buffers cap at UINT32_MAX >> 2 bytes. */
const KERNEL_MAX_LOG = 0x3fffffff;
const DEFAULT_LOG_SIZE = 64 * 1024;
const DEFAULT_MAX_LOG = 256 * 1024 * 1024;

function loadCapabilities(type: number): Capability[] {
  const networking = new Set<number>([ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.XDP, ProgramType.CGROUP_SKB, ProgramType.CGROUP_SOCK, ProgramType.SK_SKB, ProgramType.SK_MSG, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT, ProgramType.SOCK_OPS, ProgramType.FLOW_DISSECTOR, ProgramType.CGROUP_SOCK_ADDR, ProgramType.SK_LOOKUP, ProgramType.NETFILTER]);
  const tracing = new Set<number>([ProgramType.KPROBE, ProgramType.TRACEPOINT, ProgramType.PERF_EVENT, ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE, ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT]);
  if (networking.has(type)) return ['CAP_BPF', 'CAP_NET_ADMIN'];
  if (tracing.has(type)) return ['CAP_BPF', 'CAP_PERFMON'];
  return ['CAP_BPF', 'CAP_SYS_ADMIN'];
}

/** Statistics of a successful load. */
export interface VerifierStats {
  /** Instructions the verifier processed (bpf_prog_info.verified_insns). */
  verifiedInstructions: number;
  /** Bytes of log the kernel produced (log_true_size), when a log was requested. */
  logTrueSize: number;
}

/** A program loaded into the kernel. */
export class KernelProgram extends FdResource implements BpfProgram {
  protected readonly kind = 'program';
  readonly type: number;
  readonly name: string;
  readonly expectedAttachType: number;
  /** The verifier log when a non-zero logLevel was requested ('' otherwise). */
  readonly verifierLog: string;
  readonly stats: VerifierStats;

  constructor(fd: number, props: { type: number; name: string; expectedAttachType?: number; verifierLog?: string; stats?: VerifierStats }) {
    super(fd);
    this.type = props.type;
    this.name = props.name;
    this.expectedAttachType = props.expectedAttachType ?? 0;
    this.verifierLog = props.verifierLog ?? '';
    this.stats = props.stats ?? { verifiedInstructions: 0, logTrueSize: 0 };
  }

  protected override describe(): string {
    return `${programTypeName(this.type)} program${this.name ? ` '${this.name}'` : ''}`;
  }

  /** Loads a program. On rejection throws BpfSyscallError carrying the verifier log (always requested on failure). */
  static load(options: ProgramOptions): KernelProgram {
    const name = options.name ?? '';
    if (new TextEncoder().encode(name).length >= BPF_OBJ_NAME_LEN) {
      throw new KernelArgumentError(`program name '${name}' is longer than ${BPF_OBJ_NAME_LEN - 1} bytes (the kernel's BPF_OBJ_NAME_LEN)`);
    }
    if (options.instructions.length === 0) throw new KernelArgumentError(`program '${name}' has no instructions`);
    const code = encode(options.instructions);
    const insns = NativeBuffer.allocate(code.length);
    insns.bytes.set(code);
    const requestedLevel = options.logLevel ?? 0;
    let logSize = Math.min(options.logSize ?? DEFAULT_LOG_SIZE, KERNEL_MAX_LOG);
    const maxLog = Math.min(options.maxLogSize ?? DEFAULT_MAX_LOG, KERNEL_MAX_LOG);
    const subject = `${programTypeName(options.type)} program${name ? ` '${name}'` : ''} (${options.instructions.length} instructions)`;
    const capabilities = loadCapabilities(options.type);
    try {
      // First try without a log when none was asked for (faster); on failure retry with level 1 to explain.
      let level = requestedLevel;
      while (true) {
        const log = level > 0 ? NativeBuffer.allocate(logSize) : undefined;
        try {
          scratch.reset();
          const a = attr(PL.size)
            .u32(PL.type, options.type)
            .u32(PL.insnCount, options.instructions.length)
            .u64(PL.insns, insns.address)
            .u64(PL.license, scratch.put(options.license ?? 'GPL'))
            .u32(PL.logLevel, level)
            .u32(PL.logSize, log ? logSize : 0)
            .u64(PL.logBuf, log ? log.address : 0n)
            .u32(PL.kernVersion, options.kernelVersion ?? 0)
            .u32(PL.flags, options.flags ?? 0)
            .name(PL.name, name, BPF_OBJ_NAME_LEN)
            .u32(PL.ifindex, options.ifindex ?? 0)
            .u32(PL.expectedAttachType, options.expectedAttachType ?? 0)
            .u32(PL.btfFd, options.btfFd ?? 0)
            .u32(PL.attachBtfId, options.attachBtfId ?? 0)
            .u32(PL.attachBtfObjFd, options.attachBtfObjFd ?? 0);
          if (options.funcInfo && options.funcInfo.length > 0) {
            const rec = options.funcInfoRecordSize ?? 8;
            a.u32(PL.funcInfoRecSize, rec).u64(PL.funcInfo, scratch.put(options.funcInfo)).u32(PL.funcInfoCount, options.funcInfo.length / rec);
          }
          if (options.lineInfo && options.lineInfo.length > 0) {
            const rec = options.lineInfoRecordSize ?? 16;
            a.u32(PL.lineInfoRecSize, rec).u64(PL.lineInfo, scratch.put(options.lineInfo)).u32(PL.lineInfoCount, options.lineInfo.length / rec);
          }
          if (options.fdArray && options.fdArray.length > 0) {
            const fds = new Uint8Array(options.fdArray.length * 4);
            const view = new DataView(fds.buffer);
            options.fdArray.forEach((fd, i) => view.setInt32(i * 4, fd, true));
            a.u64(PL.fdArray, scratch.put(fds));
          }
          const { ret, errno } = tryBpfCall(BpfCommand.PROG_LOAD, a);
          const logTrueSize = a.readU32(PL.logTrueSize);
          const logText = log ? decodeLog(log.bytes) : '';
          if (ret >= 0) {
            const program = new KernelProgram(ret, {
              type: options.type,
              name,
              expectedAttachType: options.expectedAttachType,
              verifierLog: requestedLevel > 0 ? logText : '',
              stats: { verifiedInstructions: 0, logTrueSize },
            });
            try {
              (program.stats as { verifiedInstructions: number }).verifiedInstructions = programInfo(ret).verifiedInstructions;
            } catch {
              // info is best effort: the program is loaded either way
            }
            return program;
          }
          const logFull = log !== undefined && (errno === errnoValue('ENOSPC') || logTrueSize > logSize);
          if (logFull && logSize < maxLog) {
            logSize = Math.min(maxLog, Math.max(logSize * 4, logTrueSize + 1));
            continue;
          }
          if (level === 0 && errno !== errnoValue('EPERM')) {
            level = 1; // ask the verifier why
            continue;
          }
          throw bpfError(BpfCommand.PROG_LOAD, errno, { subject, capabilities, explain: loadExplanations(options) }, log ? { text: logText, truncated: logFull } : undefined);
        } finally {
          log?.free();
        }
      }
    } finally {
      insns.free();
    }
  }

  run(options: RunOptions = {}): RunResult {
    return testRun(this, options);
  }

  /** Current kernel information about this program (id, tag, run statistics...). */
  info(): ReturnType<typeof programInfo> {
    return programInfo(this.fd);
  }

  pin(path: string): void {
    pinObject(this.fd, path, this.describe());
  }
}

function loadExplanations(options: ProgramOptions): Partial<Record<string, string>> {
  return {
    EINVAL: programTypeName(options.type).startsWith('unknown')
      ? `unknown program type ${options.type}`
      : 'the kernel rejected the program (see the verifier log)',
    EACCES: 'the verifier rejected the program (see the log)',
    E2BIG: 'the program is too large or too complex for the verifier (more than 1,000,000 instructions processed or 8,192 branches pending; see the log)',
  };
}

/** The text of a NUL-terminated log buffer. */
function decodeLog(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** PROG_TEST_RUN attr offsets. */
const TR = { fd: 0, retval: 4, dataSizeIn: 8, dataSizeOut: 12, dataIn: 16, dataOut: 24, repeat: 32, duration: 36, ctxSizeIn: 40, ctxSizeOut: 44, ctxIn: 48, ctxOut: 56, flags: 64, cpu: 68, size: 76 };

/** BPF_F_TEST_* flags for test runs. */
export const TestRunFlags = { RUN_ON_CPU: 1, XDP_LIVE_FRAMES: 2, SKB_CHECKSUM_COMPLETE: 4 } as const;

function testRun(program: KernelProgram, options: RunOptions): RunResult {
  const fd = program.fd;
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0xffffffff) throw new KernelArgumentError(`repeat must be a positive 32-bit integer, got ${repeat}`);
  const data = options.data;
  const ctx = options.ctx;
  const dataOutSize = data ? (options.dataOutSize ?? data.length + 256) : 0;
  // SYSCALL and raw tracepoint programs (bpf_prog_test_run_syscall, _raw_tp) refuse repeat, data and ctx_out: they run once; syscall programs write the ctx back into ctx_in.
  const syscall = program.type === ProgramType.SYSCALL || program.type === ProgramType.RAW_TRACEPOINT || program.type === ProgramType.RAW_TRACEPOINT_WRITABLE;
  const ctxOutSize = ctx && !syscall ? (options.ctxOutSize ?? ctx.length) : 0;
  const buffers = NativeBuffer.allocate((data?.length ?? 0) + dataOutSize + (ctx?.length ?? 0) + ctxOutSize + 32);
  try {
    let offset = 0;
    const region = (length: number): { address: bigint; bytes: Uint8Array } => {
      const start = offset;
      offset += (length + 7) & ~7;
      return { address: buffers.address + BigInt(start), bytes: buffers.bytes.subarray(start, start + length) };
    };
    const dataIn = region(data?.length ?? 0);
    const dataOut = region(dataOutSize);
    const ctxIn = region(ctx?.length ?? 0);
    const ctxOut = region(ctxOutSize);
    if (data) dataIn.bytes.set(data);
    if (ctx) ctxIn.bytes.set(ctx);
    const a = attr(TR.size)
      .u32(TR.fd, fd)
      .u32(TR.dataSizeIn, data?.length ?? 0)
      .u32(TR.dataSizeOut, dataOutSize)
      .u64(TR.dataIn, data ? dataIn.address : 0n)
      .u64(TR.dataOut, data ? dataOut.address : 0n)
      .u32(TR.repeat, syscall && repeat === 1 ? 0 : repeat)
      .u32(TR.ctxSizeIn, ctx?.length ?? 0)
      .u32(TR.ctxSizeOut, ctxOutSize)
      .u64(TR.ctxIn, ctx ? ctxIn.address : 0n)
      .u64(TR.ctxOut, ctx && ctxOutSize > 0 ? ctxOut.address : 0n)
      .u32(TR.flags, options.flags ?? 0)
      .u32(TR.cpu, options.cpu ?? 0);
    const { ret, errno } = tryBpfCall(BpfCommand.PROG_TEST_RUN, a);
    if (ret < 0) {
      throw bpfError(BpfCommand.PROG_TEST_RUN, errno, {
        subject: `${programTypeName(program.type)} program '${program.name}'`,
        explain: {
          ENOTSUPP: 'this program type cannot be test-run',
          EOPNOTSUPP: 'this program type cannot be test-run',
          EINVAL: 'the kernel rejected the input (data too short for the program type, ctx fields it does not accept, or flags)',
          ENOSPC: 'the output buffer is too small for the data the program produced (raise dataOutSize)',
        },
        capabilities: ['CAP_SYS_ADMIN'],
      });
    }
    const result: RunResult = { retval: a.readU32(TR.retval) | 0, durationNs: a.readU32(TR.duration) };
    if (data) result.data = dataOut.bytes.slice(0, Math.min(a.readU32(TR.dataSizeOut), dataOutSize));
    if (ctx) result.ctx = syscall ? ctxIn.bytes.slice() : ctxOut.bytes.slice(0, Math.min(a.readU32(TR.ctxSizeOut), ctxOutSize));
    return result;
  } finally {
    buffers.free();
  }
}
