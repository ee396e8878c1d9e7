/**
 * Runs a verifier case through tsbpf's verifier and through the running
 * kernel (BPF_PROG_LOAD), and reads the kernel's verdict and final message.
 */
import { loadKernelBtf } from '../../src/btf/index.ts';
import { CallSrc, type Instruction, OPCODE_CALL, assemble } from '../../src/isa/index.ts';
import { helperByName } from '../../src/uapi/index.ts';
import { KernelBtf } from '../../src/kernel/collection.ts';
import { KernelMap } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { BpfSyscallError } from '../../src/kernel/errors.ts';
import { classifySection, type MapSpec, type ProgramSpec } from '../../src/object/index.ts';
import { type VerifyResult, verify } from '../../src/verifier/index.ts';
import { caseBtf, funcInfoBytes } from './case-btf.ts';
import type { CaseMap, VerifierCase } from './cases.ts';

export interface Verdict {
  accepted: boolean;
  /** The last line of the log before the statistics line ('' when accepted). */
  message: string;
  log: string;
}

/** The kernel's final message: the last log line that is not the statistics or a state dump. */
export function finalMessage(log: string): string {
  const lines = log
    .split('\n')
    .filter((l) => l.length > 0 && !/^(processed |verification time|stack depth|cur state:|old state:)/.test(l));
  return lines.at(-1) ?? '';
}

function caseType(c: VerifierCase): { type: number; attach?: number; attachTo?: string } {
  const info = classifySection(c.section);
  if (info === undefined) throw new Error(`case '${c.name}': unknown section ${c.section}`);
  const typedByTarget = c.section.startsWith('tp_btf/') || c.section.startsWith('iter/');
  return { type: info.programType, ...(info.expectedAttachType !== undefined ? { attach: info.expectedAttachType } : {}), ...(info.attachTo && typedByTarget ? { attachTo: info.attachTo } : {}) };
}

function mapSpec(m: CaseMap, i: number): MapSpec {
  return {
    name: `m${i}`,
    type: m.type as MapSpec['type'],
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.maxEntries,
    flags: m.flags ?? 0,
    pinning: 'none',
    contents: [],
    readOnly: ((m.flags ?? 0) & 0x80) !== 0,
    frozen: m.rodata !== undefined,
    section: 'maps',
    ...(m.rodata ? { initialData: m.rodata } : {}),
    ...(m.mapExtra !== undefined ? { mapExtra: m.mapExtra } : {}),
  };
}

export function tsbpfVerdict(c: VerifierCase, logLevel: 0 | 1 | 2 = 1): { verdict: Verdict; result: VerifyResult } {
  const { type, attach, attachTo } = caseType(c);
  const maps = new Map((c.maps ?? []).map((m, i) => [i, mapSpec(m, i)]));
  const insns = assemble(c.asm);
  const options = { type, expectedAttachType: attach, mapsByFd: maps, license: c.license ?? 'GPL', logLevel, programFlags: c.programFlags ?? 0, privileged: c.unprivileged !== true };
  let result: VerifyResult;
  const kfuncs = kfuncNames(c.asm);
  if (c.functions || kfuncs.length > 0 || attachTo !== undefined) {
    // Declared functions and kfunc calls travel as a program with BTF, func_info and `.ksyms` relocations, as an object's would.
    const declared = c.functions ? caseBtf(c.functions) : undefined;
    const kfuncCalls = insns.flatMap((insn, i) => (isKfuncCall(insn) ? [i] : []));
    const spec: ProgramSpec = {
      name: c.functions?.[0]?.name ?? 'case', section: c.section, ...(attachTo !== undefined ? { attachTo } : {}), type: type as ProgramSpec['type'], sleepable: false, programFlags: c.programFlags ?? 0, instructions: insns,
      functions: (c.functions ?? []).map((f) => ({ name: f.name, insnIndex: f.at })),
      relocations: kfuncCalls.map((insnIndex, k) => ({ kind: 'ksym' as const, insnIndex, externName: kfuncs[k]!, isFunction: true })),
      coreRelocations: [], funcInfo: declared?.funcInfo ?? [], lineInfo: [], license: c.license ?? 'GPL', kernelVersion: 0, ...(declared ? { btf: declared.btf } : {}),
    };
    result = verify(spec, options);
  } else {
    result = verify(insns, options);
  }
  return { verdict: { accepted: result.accepted, message: result.accepted ? '' : finalMessage(result.log), log: result.log }, result };
}

/** The kfuncs a case calls, in order: `call NAME#0` where NAME is no helper. */
function kfuncNames(asm: string): string[] {
  return [...asm.matchAll(/call (\w+)#0\b/g)].map((m) => m[1]!).filter((name) => helperByName(name) === undefined);
}

const isKfuncCall = (insn: Instruction): boolean => insn.opcode === OPCODE_CALL && insn.src === CallSrc.KFUNC;

export function kernelVerdict(c: VerifierCase, logLevel: 1 | 2 = Number(process.env.TSBPF_CASE_LOG ?? 1) as 1 | 2): Verdict {
  const { type, attach, attachTo } = caseType(c);
  // tp_btf programs name their tracepoint by the BTF id of its btf_trace_NAME typedef, iterators their target by its bpf_iter_NAME function.
  const attachBtfId =
    attachTo === undefined ? undefined : c.section.startsWith('iter/') ? loadKernelBtf().findByName(`bpf_iter_${attachTo}`, 'func')[0]?.id : loadKernelBtf().findByName(`btf_trace_${attachTo}`, 'typedef')[0]?.id;
  const maps = (c.maps ?? []).map((m, i) => {
    const map = KernelMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0, name: `m${i}`, ...(m.mapExtra !== undefined ? { mapExtra: m.mapExtra } : {}) });
    // Global data as libbpf loads it: written, then frozen, so that the verifier takes its contents as constants.
    if (m.rodata !== undefined) {
      map.update(new Uint8Array(4), m.rodata);
      map.freeze();
    }
    return map;
  });
  const declared = c.functions ? caseBtf(c.functions) : undefined;
  const btf = declared ? KernelBtf.load(declared.btf.encode()) : undefined;
  const btfOptions = declared && btf ? { btfFd: btf.fd, funcInfo: funcInfoBytes(declared.funcInfo), funcInfoRecordSize: 8 } : {};
  try {
    const asm = c.asm
      .replace(/map_(fd|value)\((\d+)\)/g, (_, kind: string, n: string) => `map_${kind}(${maps[Number(n)]!.fd})`)
      .replace(/call (\w+)#0\b/g, (call, name: string) => (helperByName(name) === undefined ? `call ${name}#${loadKernelBtf().findByName(name, 'func')[0]?.id ?? 0}` : call));
    try {
      const program = KernelProgram.load({ type, instructions: assemble(asm), license: c.license ?? 'GPL', logLevel, flags: c.programFlags ?? 0, ...btfOptions, ...(attachBtfId !== undefined ? { attachBtfId } : {}), ...(attach !== undefined ? { expectedAttachType: attach } : {}) });
      program.close();
      return { accepted: true, message: '', log: program.verifierLog };
    } catch (e) {
      if (!(e instanceof BpfSyscallError)) throw e;
      const log = e.log ?? '';
      return { accepted: false, message: finalMessage(log), log };
    }
  } finally {
    btf?.close();
    for (const m of maps) m.close();
  }
}
