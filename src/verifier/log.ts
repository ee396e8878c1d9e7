/**
 * The verifier log in the kernel's format (kernel/bpf/log.c): register
 * states as print_reg_state writes them, the `; R1=...` column after each
 * instruction, source lines from BTF line info, and the level-1 rule that a
 * path's lines are dropped again when that path verifies.
 */
import type { LineInfo } from '../object/index.ts';
import { TypeFlag } from '../uapi/index.ts';
import { formatSigned, scalarConstValue, scalarIsConst, scalarIsZero, scalarRangesToString } from './scalar.ts';
import { formatUnsigned } from './tnum.ts';
import { ADD_CONST, BASE_MASK, type Frame, type Reg, RegType, SLOT_CHAR, Slot, linkBaseId, mayBeNull } from './state.ts';

const TYPE_NAMES: Readonly<Record<number, string>> = {
  [RegType.NOT_INIT]: '?',
  [RegType.SCALAR]: 'scalar',
  [RegType.PTR_TO_CTX]: 'ctx',
  [RegType.CONST_PTR_TO_MAP]: 'map_ptr',
  [RegType.PTR_TO_MAP_VALUE]: 'map_value',
  [RegType.PTR_TO_STACK]: 'fp',
  [RegType.PTR_TO_PACKET]: 'pkt',
  [RegType.PTR_TO_PACKET_META]: 'pkt_meta',
  [RegType.PTR_TO_PACKET_END]: 'pkt_end',
  [RegType.PTR_TO_FLOW_KEYS]: 'flow_keys',
  [RegType.PTR_TO_SOCKET]: 'sock',
  [RegType.PTR_TO_SOCK_COMMON]: 'sock_common',
  [RegType.PTR_TO_TCP_SOCK]: 'tcp_sock',
  [RegType.PTR_TO_TP_BUFFER]: 'tp_buffer',
  [RegType.PTR_TO_XDP_SOCK]: 'xdp_sock',
  [RegType.PTR_TO_BTF_ID]: 'ptr_',
  [RegType.PTR_TO_MEM]: 'mem',
  [RegType.PTR_TO_ARENA]: 'arena',
  [RegType.PTR_TO_BUF]: 'buf',
  [RegType.PTR_TO_FUNC]: 'func',
  [RegType.PTR_TO_MAP_KEY]: 'map_key',
  [RegType.CONST_PTR_TO_DYNPTR]: 'dynptr_ptr',
};

/** reg_type_str: `rdonly_ringbuf_mem_or_null`, `ptr_or_null_`... */
export function regTypeName(type: number): string {
  const base = type & BASE_MASK;
  const F = TypeFlag;
  const prefix =
    (type & F.MEM_RDONLY ? 'rdonly_' : '') +
    (type & F.MEM_RINGBUF ? 'ringbuf_' : '') +
    (type & F.MEM_USER ? 'user_' : '') +
    (type & F.MEM_PERCPU ? 'percpu_' : '') +
    (type & F.MEM_RCU ? 'rcu_' : '') +
    (type & F.PTR_UNTRUSTED ? 'untrusted_' : '') +
    (type & F.PTR_TRUSTED ? 'trusted_' : '');
  const postfix = mayBeNull(type) ? (base === RegType.PTR_TO_BTF_ID ? 'or_null_' : '_or_null') : '';
  return `${prefix}${TYPE_NAMES[base] ?? `type${base}`}${postfix}`;
}

/** print_reg_state. `frameno` is the frame being printed (stack pointers into other frames show `[N]`). */
export function formatReg(r: Reg, frameno: number): string {
  const t = r.type;
  // A scalar some stored state's continuation relies on exactly prints as `P` first.
  const precise = t === RegType.SCALAR && r.precise ? 'P' : '';
  if (t === RegType.SCALAR && scalarIsConst(r.v)) return precise + formatSigned(scalarConstValue(r.v)!);
  let out = precise + regTypeName(t);
  if (t === RegType.PTR_TO_ARENA) return out;
  if (t === RegType.PTR_TO_STACK) {
    if (frameno !== r.frameno) out += `[${r.frameno}]`;
    if (scalarIsConst(r.v)) return out + formatSigned(scalarConstValue(r.v)! + BigInt(r.off));
  }
  if ((t & BASE_MASK) === RegType.PTR_TO_BTF_ID) out += r.btfName ?? '';
  const parts: string[] = [];
  if (r.id) {
    // A scalar linked with a delta prints it after its id: `id=1+4`, `id=1-4`.
    const delta = t === RegType.SCALAR && r.id & ADD_CONST ? `${r.off < 0 ? '' : '+'}${r.off}` : '';
    parts.push(`id=${linkBaseId(r.id)}${delta}`);
  }
  if (r.refObjId) parts.push(`ref_obj_id=${r.refObjId}`);
  const base = t & BASE_MASK;
  if (r.map !== undefined && (base === RegType.CONST_PTR_TO_MAP || base === RegType.PTR_TO_MAP_KEY || base === RegType.PTR_TO_MAP_VALUE)) {
    if (r.map.name) parts.push(`map=${r.map.name}`);
    parts.push(`ks=${r.map.spec.keySize},vs=${r.map.spec.valueSize}`);
  }
  if (t !== RegType.SCALAR && r.off) parts.push(`off=${formatSigned(BigInt(r.off))}`);
  if (base === RegType.PTR_TO_PACKET || base === RegType.PTR_TO_PACKET_META) parts.push(`r=${formatUnsigned(BigInt.asUintN(64, BigInt(r.range)))}`);
  if (base === RegType.PTR_TO_MEM) parts.push(`sz=${formatUnsigned(BigInt(r.memSize))}`);
  if (scalarIsConst(r.v)) {
    if (!scalarIsZero(r.v)) parts.push(`imm=${formatSigned(scalarConstValue(r.v)!)}`);
  } else {
    const ranges = scalarRangesToString(r.v);
    if (ranges) parts.push(ranges);
  }
  return `${out}(${parts.join(',')})`;
}

/**
 * print_verifier_state for one frame: every initialised register (or only
 * `scratched` ones) and every written stack slot.
 */
export function formatFrame(f: Frame, scratchedRegs?: ReadonlySet<number>, scratchedSlots?: ReadonlySet<number>, refs?: readonly number[]): string {
  let out = f.frameno ? ` frame${f.frameno}:` : '';
  for (let i = 0; i <= 10; i++) {
    const r = f.regs[i]!;
    if (r.type === RegType.NOT_INIT) continue;
    if (scratchedRegs && !scratchedRegs.has(i)) continue;
    out += ` R${i}=${formatReg(r, f.frameno)}`;
  }
  for (let spi = 0; spi < f.stack.length; spi++) {
    const slot = f.stack[spi];
    if (slot === undefined) continue;
    if (scratchedSlots && !scratchedSlots.has(spi)) continue;
    if (slot.types.every((t) => t === Slot.INVALID)) continue;
    const object = slot.object;
    if (object !== undefined) {
      // Iterators and dynptrs print once, at their first slot.
      const off = -(spi + 1) * 8;
      if (object.kind === 'iter' && object.refObjId !== 0) {
        out += ` fp${off}=iter_${object.struct.replace(/^bpf_iter_/, '')}(ref_id=${object.refObjId},state=${object.drained ? 'drained' : 'active'},depth=${object.depth})`;
      } else if (object.kind === 'dynptr' && object.first) {
        out += ` fp${off}=dynptr_${object.type}(id=${object.id}${object.refObjId ? `,ref_id=${object.refObjId}` : ''})`;
      }
      continue;
    }
    let types = slot.types.map((t) => SLOT_CHAR[t]).join('');
    const off = -(spi + 1) * 8;
    if (slot.types[7] === Slot.SPILL && slot.spilled) {
      const first = slot.types.indexOf(Slot.SPILL);
      types = types.slice(0, first);
      out += ` fp${off}=${types}${formatReg(slot.spilled, f.frameno)}`;
    } else {
      out += ` fp${off}=${types}`;
    }
  }
  if (refs && refs.length > 0) out += ` refs=${refs.join(',')}`;
  if (f.callback) out += ' cb';
  return out;
}

/** vlog_alignment: the column the `;` state goes to after an instruction of `width` characters. */
function alignment(width: number): number {
  const pos = width + 1; // the kernel measures the line with its newline
  return Math.ceil(Math.max(pos + 4, 40) / 8) * 8 - pos - 1;
}

/**
 * The log being written. Level 1 keeps only the path that failed: each
 * pushed branch remembers the log length, and popping a verified path
 * truncates back to it (the kernel's pop_log).
 */
export class VerifierLog {
  /** The log as pieces (appending and truncating stay cheap on long logs). */
  private readonly parts: string[] = [];
  private total = 0;
  /** Index in `parts` of the last instruction line while nothing followed it. */
  private lastInsnPart = -1;
  private prevLine: LineInfo | undefined;

  constructor(
    readonly level: 0 | 1 | 2,
    private readonly lineInfo: readonly LineInfo[],
  ) {}

  get length(): number {
    return this.total;
  }

  truncate(length: number): void {
    while (this.total > length && this.parts.length > 0) {
      const last = this.parts.pop()!;
      this.total -= last.length;
      if (this.total < length) {
        const kept = last.slice(0, length - this.total);
        this.parts.push(kept);
        this.total += kept.length;
      }
    }
    this.lastInsnPart = -1;
    this.prevLine = undefined;
  }

  write(s: string): void {
    if (this.level === 0 || s === '') return;
    this.parts.push(s);
    this.total += s.length;
    this.lastInsnPart = -1;
  }

  /** `; source line @ file.c:12` before an instruction whose line changed. */
  sourceLine(insnIdx: number, prefix = '; '): void {
    if (this.level === 0) return;
    const line = findLineInfo(this.lineInfo, insnIdx);
    if (line === undefined || line === this.prevLine) return;
    if (this.prevLine && line.fileName === this.prevLine.fileName && line.line === this.prevLine.line) return;
    const file = line.fileName.slice(line.fileName.lastIndexOf('/') + 1);
    this.write(`${prefix}${line.lineText.trimStart()} @ ${file}:${line.line}\n`);
    this.prevLine = line;
  }

  /** `12: (bf) r1 = r6` */
  instruction(insnIdx: number, text: string): void {
    if (this.level === 0) return;
    this.write(`${insnIdx}: ${text}\n`);
    this.lastInsnPart = this.parts.length - 1;
  }

  /** The state after the last instruction, on its line after `;` when nothing was written since (print_insn_state). */
  stateAfter(insnIdx: number, state: string): void {
    if (this.level === 0 || state === '') return;
    if (this.lastInsnPart >= 0 && this.lastInsnPart === this.parts.length - 1) {
      const line = this.parts[this.lastInsnPart]!;
      const width = line.length - 1;
      const updated = `${line.slice(0, -1)}${' '.repeat(alignment(width))};${state}\n`;
      this.parts[this.lastInsnPart] = updated;
      this.total += updated.length - line.length;
      this.lastInsnPart = -1;
    } else {
      this.write(`${insnIdx}:${state}\n`);
    }
  }

  toString(): string {
    return this.parts.join('');
  }
}

/** The line-info record covering `insnIdx` (the rightmost with insnIndex <= insnIdx). */
export function findLineInfo(lines: readonly LineInfo[], insnIdx: number): LineInfo | undefined {
  let lo = 0;
  let hi = lines.length - 1;
  if (hi < 0 || lines[0]!.insnIndex > insnIdx) return undefined;
  while (lo < hi) {
    const mid = lo + ((hi - lo + 1) >> 1);
    if (lines[mid]!.insnIndex <= insnIdx) lo = mid;
    else hi = mid - 1;
  }
  return lines[lo];
}
