/**
 * Kernel feature probes, in the manner of libbpf's libbpf_probe_bpf_*() and
 * cilium/ebpf's features package: create a minimal object of each kind and
 * read the kernel's answer. Each result carries the evidence (errno or the
 * verifier's words) so "unsupported" is never a guess.
 */
import { exit, callHelper, mov64Imm } from '../isa/instruction.ts';
import { HELPERS } from '../uapi/helpers.ts';
import { AttachType, MapType, ProgramType, programTypeName } from '../uapi/enums.ts';
import { BpfCommand, attr, scratch, tryBpfCall } from './bpf.ts';
import { BpfSyscallError, KernelArgumentError, SyscallError } from './errors.ts';
import { errnoName, sysClose } from './ffi.ts';
import { attachXdp, tracingTargetBtfId } from './link.ts';
import { KernelMap, type MapOptions } from './map.ts';
import { KernelProgram, type ProgramOptions } from './program.ts';

export type FeatureState = 'supported' | 'unsupported' | 'not-permitted' | 'unknown';

export interface FeatureResult {
  name: string;
  state: FeatureState;
  /** What the kernel said: `ok`, an errno name, or a verifier message. */
  evidence: string;
}

/** Map creation parameters that every kernel supporting the type accepts. */
function mapProbeOptions(type: number): MapOptions | undefined {
  const base = { type, keySize: 4, valueSize: 4, maxEntries: 1 };
  switch (type) {
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
    case MapType.LRU_PERCPU_HASH:
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
    case MapType.PROG_ARRAY:
    case MapType.PERF_EVENT_ARRAY:
    case MapType.CGROUP_ARRAY:
    case MapType.DEVMAP:
    case MapType.DEVMAP_HASH:
    case MapType.CPUMAP:
    case MapType.XSKMAP:
    case MapType.SOCKMAP:
    case MapType.SOCKHASH:
    case MapType.REUSEPORT_SOCKARRAY:
      return base;
    case MapType.STACK_TRACE:
      return { ...base, valueSize: 8 };
    case MapType.LPM_TRIE:
      return { ...base, keySize: 8, flags: 1 /* NO_PREALLOC */ };
    case MapType.CGROUP_STORAGE:
    case MapType.PERCPU_CGROUP_STORAGE:
      return { ...base, keySize: 16, maxEntries: 0 };
    case MapType.QUEUE:
    case MapType.STACK:
      return { ...base, keySize: 0 };
    case MapType.BLOOM_FILTER:
      return { ...base, keySize: 0 };
    case MapType.RINGBUF:
    case MapType.USER_RINGBUF:
      return { type, keySize: 0, valueSize: 0, maxEntries: 4096 };
    case MapType.ARENA:
      return { type, keySize: 0, valueSize: 0, maxEntries: 1, flags: 1 << 10 /* MMAPABLE */ };
    default:
      return undefined; // needs BTF (storage maps, struct_ops) or an inner map
  }
}

function describeError(error: unknown): { state: FeatureState; evidence: string } {
  if (error instanceof BpfSyscallError || error instanceof SyscallError) {
    if (error.code === 'EPERM' || error.code === 'EACCES') return { state: 'not-permitted', evidence: error.code };
    if (error.code === 'EINVAL' || error.code === 'ENOTSUPP' || error.code === 'EOPNOTSUPP') return { state: 'unsupported', evidence: error.code };
    return { state: 'unknown', evidence: error.code };
  }
  return { state: 'unknown', evidence: (error as Error).message };
}

export function probeMapTypes(): FeatureResult[] {
  return Object.entries(MapType).map(([name, type]) => {
    const options = mapProbeOptions(type);
    if (!options) {
      // Maps whose creation needs BTF or an inner map: ask with deliberately empty parameters. EINVAL would be ambiguous, so only report what is certain.
      return { name, state: 'unknown' as FeatureState, evidence: 'creation needs BTF or an inner map; not probed' };
    }
    try {
      KernelMap.create(options).close();
      return { name, state: 'supported' as FeatureState, evidence: 'ok' };
    } catch (error) {
      return { name, ...describeError(error) };
    }
  });
}

/** Expected attach types some program types need to load at all. */
const PROGRAM_PROBE_EXTRA: Partial<Record<number, Partial<ProgramOptions>>> = {
  [ProgramType.CGROUP_SOCK_ADDR]: { expectedAttachType: AttachType.CGROUP_INET4_CONNECT },
  [ProgramType.SK_LOOKUP]: { expectedAttachType: AttachType.SK_LOOKUP },
  [ProgramType.NETFILTER]: { expectedAttachType: AttachType.NETFILTER },
  [ProgramType.CGROUP_SOCKOPT]: { expectedAttachType: AttachType.CGROUP_GETSOCKOPT },
  [ProgramType.SK_REUSEPORT]: { expectedAttachType: AttachType.SK_REUSEPORT_SELECT },
  [ProgramType.SYSCALL]: { flags: 1 << 4 /* BPF_F_SLEEPABLE: syscall programs must be */ },
};

const cachedTpBtfTarget = (): number | undefined => {
  try {
    return tracingTargetBtfId('tp_btf', 'sys_enter');
  } catch {
    return undefined;
  }
};

function programProbeOptions(type: number): ProgramOptions | undefined {
  const options: ProgramOptions = { type, instructions: [mov64Imm(0, 0), exit()], ...PROGRAM_PROBE_EXTRA[type] };
  if (type === ProgramType.TRACING) {
    const id = cachedTpBtfTarget();
    if (id === undefined) return undefined;
    return { ...options, expectedAttachType: AttachType.TRACE_RAW_TP, attachBtfId: id };
  }
  if (type === ProgramType.LSM) {
    try {
      return { ...options, expectedAttachType: AttachType.LSM_MAC, attachBtfId: tracingTargetBtfId('lsm', 'file_open') };
    } catch {
      return undefined;
    }
  }
  if (type === ProgramType.EXT || type === ProgramType.STRUCT_OPS) return undefined; // need a target program / struct_ops BTF
  return options;
}

export function probeProgramTypes(): FeatureResult[] {
  return Object.entries(ProgramType).map(([name, type]) => {
    const options = programProbeOptions(type);
    if (!options) return { name, state: 'unknown' as FeatureState, evidence: 'needs an attach target; not probed' };
    try {
      KernelProgram.load(options).close();
      return { name, state: 'supported' as FeatureState, evidence: 'ok' };
    } catch (error) {
      return { name, ...describeError(error) };
    }
  });
}

/**
 * Which helpers a program type may call: loads `call helper; exit` with
 * zeroed arguments. The verifier names unknown or forbidden helpers
 * ("invalid func", "unknown func", "program of this type cannot use
 * helper"); any other rejection (wrong argument types) means it exists.
 */
export function probeHelpers(programType: number, helperIds: number[] = HELPERS.map((h) => h.id)): FeatureResult[] {
  const base = programProbeOptions(programType);
  if (!base) throw new KernelArgumentError(`cannot probe the helpers of program type ${programTypeName(programType)}: loading it needs an attach target`);
  return helperIds.map((id) => {
    const name = HELPERS.find((h) => h.id === id)?.name ?? `helper#${id}`;
    const instructions = [mov64Imm(1, 0), mov64Imm(2, 0), mov64Imm(3, 0), mov64Imm(4, 0), mov64Imm(5, 0), callHelper(id), mov64Imm(0, 0), exit()];
    try {
      KernelProgram.load({ ...base, instructions, logLevel: 1, logSize: 4096 }).close();
      return { name, state: 'supported' as FeatureState, evidence: 'ok' };
    } catch (error) {
      if (!(error instanceof BpfSyscallError)) return { name, state: 'unknown' as FeatureState, evidence: (error as Error).message };
      const log = error.log ?? '';
      const forbidden = /invalid func |unknown func |program of this type cannot use helper|helper call is not allowed|not supported in this program type/.exec(log);
      if (forbidden) {
        const line = log.split('\n').find((l) => l.includes(forbidden[0])) ?? forbidden[0];
        return { name, state: 'unsupported' as FeatureState, evidence: line.trim() };
      }
      if (error.code === 'EPERM') return { name, state: 'not-permitted' as FeatureState, evidence: 'EPERM' };
      const lastLine = log.trim().split('\n').filter((l) => !l.startsWith('processed')).pop() ?? error.code;
      return { name, state: 'supported' as FeatureState, evidence: `exists (rejected only for its arguments: ${lastLine.trim()})` };
    }
  });
}

/** Link kinds: LINK_CREATE with a bad target tells a known attach type (EBADF/ENODEV) from an unknown one (EINVAL). */
export function probeLinkKinds(): FeatureResult[] {
  const results: FeatureResult[] = [];
  const withProgram = (name: string, options: ProgramOptions | undefined, probe: (program: KernelProgram) => FeatureResult): void => {
    if (!options) {
      results.push({ name, state: 'unknown', evidence: 'program type not probeable' });
      return;
    }
    let program: KernelProgram;
    try {
      program = KernelProgram.load(options);
    } catch (error) {
      const { state, evidence } = describeError(error);
      results.push({ name, state: state === 'unsupported' ? 'unsupported' : state, evidence: `program load: ${evidence}` });
      return;
    }
    try {
      results.push(probe(program));
    } finally {
      program.close();
    }
  };
  const linkCreateErrno = (program: KernelProgram, target: number, attachType: number): string => {
    const a = attr(64).u32(0, program.fd).u32(4, target).u32(8, attachType);
    const { ret, errno } = tryBpfCall(BpfCommand.LINK_CREATE, a);
    if (ret >= 0) {
      sysClose(ret);
      return 'ok';
    }
    return errnoName(errno);
  };
  const verdict = (name: string, code: string, supportedCodes: string[]): FeatureResult => ({
    name,
    state: code === 'ok' || supportedCodes.includes(code) ? 'supported' : code === 'EPERM' ? 'not-permitted' : code === 'EINVAL' ? 'unsupported' : 'unknown',
    evidence: code,
  });
  const trivial = (type: number, extra: Partial<ProgramOptions> = {}): ProgramOptions => ({ type, instructions: [mov64Imm(0, 0), exit()], ...extra });

  withProgram('CGROUP', trivial(ProgramType.CGROUP_SKB, { expectedAttachType: AttachType.CGROUP_INET_EGRESS }), (p) =>
    verdict('CGROUP', linkCreateErrno(p, 0x7fffffff, AttachType.CGROUP_INET_EGRESS), ['EBADF']));
  withProgram('PERF_EVENT', trivial(ProgramType.TRACEPOINT), (p) => verdict('PERF_EVENT', linkCreateErrno(p, 0x7fffffff, AttachType.PERF_EVENT), ['EBADF']));
  withProgram('TCX', trivial(ProgramType.SCHED_CLS), (p) => verdict('TCX', linkCreateErrno(p, 0x7fffffff, AttachType.TCX_INGRESS), ['ENODEV']));
  withProgram('NETKIT', trivial(ProgramType.SCHED_CLS, { expectedAttachType: AttachType.NETKIT_PRIMARY }), (p) =>
    verdict('NETKIT', linkCreateErrno(p, 0x7fffffff, AttachType.NETKIT_PRIMARY), ['ENODEV']));
  withProgram('XDP', trivial(ProgramType.XDP), (p) => {
    // An unknown ifindex gives EINVAL either way, so attach for real to lo in generic mode and detach at once.
    try {
      attachXdp(p, 'lo', 'generic').close();
      return { name: 'XDP', state: 'supported', evidence: 'ok (attached to lo briefly)' };
    } catch (error) {
      const { state, evidence } = describeError(error);
      return { name: 'XDP', state: evidence === 'EBUSY' || evidence === 'EEXIST' ? 'supported' : state, evidence };
    }
  });
  withProgram('RAW_TRACEPOINT', trivial(ProgramType.RAW_TRACEPOINT), (p) => {
    scratch.reset();
    const a = attr(24).u64(0, scratch.put('sys_enter')).u32(8, p.fd);
    const { ret, errno } = tryBpfCall(BpfCommand.RAW_TRACEPOINT_OPEN, a);
    if (ret >= 0) sysClose(ret);
    return verdict('RAW_TRACEPOINT', ret >= 0 ? 'ok' : errnoName(errno), []);
  });
  withProgram('TRACING', programProbeOptions(ProgramType.TRACING), (p) => verdict('TRACING', linkCreateErrno(p, 0, AttachType.TRACE_RAW_TP), []));
  return results;
}

export interface FeatureReport {
  mapTypes: FeatureResult[];
  programTypes: FeatureResult[];
  linkKinds: FeatureResult[];
  /** Per program type name, when requested. */
  helpers?: Record<string, FeatureResult[]>;
}

export function probeAll(options: { helpersFor?: number[] } = {}): FeatureReport {
  const report: FeatureReport = { mapTypes: probeMapTypes(), programTypes: probeProgramTypes(), linkKinds: probeLinkKinds() };
  if (options.helpersFor && options.helpersFor.length > 0) {
    report.helpers = {};
    for (const type of options.helpersFor) {
      const name = Object.entries(ProgramType).find(([, v]) => v === type)?.[0] ?? String(type);
      report.helpers[name] = probeHelpers(type);
    }
  }
  return report;
}
