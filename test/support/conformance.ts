import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Instruction } from '../../src/isa/instruction.ts';

/**
 * Parser for the bpf_conformance test vectors (`*.data`), following the
 * rules of upstream's parser as summarised in
 * ../shared/conformance/README.md: `#` comments, `-- name` section lines
 * matched by substring, `-- raw` taking precedence over `-- asm`, the last
 * `-- result` line winning.
 */
export interface ConformanceVector {
  readonly name: string;
  readonly path: string;
  /** The `-- asm` section, comments removed, one instruction or label per line. */
  readonly asm: string;
  /** The `-- raw` section decoded, when present. */
  readonly raw: Instruction[] | undefined;
  /** Initial memory (`-- mem`), undefined when the vector has none. */
  readonly mem: Uint8Array | undefined;
  /** Expected r0 as an unsigned 64-bit value. */
  readonly result: bigint | undefined;
  /** Expected error message (`-- error`). */
  readonly error: string | undefined;
}

export class ConformanceFormatError extends Error {
  override name = 'ConformanceFormatError';
}

type Section = 'asm' | 'result' | 'mem' | 'raw' | 'error' | 'ignored';

function directive(line: string, where: string): Section {
  for (const s of ['asm', 'result', 'mem', 'raw', 'error'] as const) if (line.includes(s)) return s;
  if (line.includes('no register offset') || /^--\s*c\s*$/.test(line.trim())) return 'ignored';
  throw new ConformanceFormatError(`${where}: unknown section directive '${line.trim()}'`);
}

function parseU64(token: string, where: string): bigint {
  const t = token.trim();
  let v: bigint;
  try {
    v = /^-?0x/i.test(t) ? (t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t)) : BigInt(t);
  } catch {
    throw new ConformanceFormatError(`${where}: '${t}' is not a number`);
  }
  if (v >= 1n << 64n || v < -(1n << 63n)) throw new ConformanceFormatError(`${where}: '${t}' does not fit in 64 bits`);
  return BigInt.asUintN(64, v);
}

/** One raw 64-bit instruction word, little-endian layout: opcode in the low byte. */
function rawInstruction(word: bigint): Instruction {
  const w = BigInt.asUintN(64, word);
  const regs = Number((w >> 8n) & 0xffn);
  return {
    opcode: Number(w & 0xffn),
    dst: regs & 0xf,
    src: regs >> 4,
    offset: Number(BigInt.asIntN(16, w >> 16n)),
    imm: Number(BigInt.asIntN(32, w >> 32n)),
  };
}

export function parseConformanceVector(text: string, path = '<input>'): ConformanceVector {
  const name = basename(path).replace(/\.data$/, '');
  const lines: Record<Exclude<Section, 'ignored'>, string[]> = { asm: [], result: [], mem: [], raw: [], error: [] };
  let section: Section | undefined;
  text.split('\n').forEach((rawLine, n) => {
    const where = `${path}:${n + 1}`;
    const content = rawLine.replace(/\r$/, '').replace(/#.*/, '').trim();
    if (content.includes('--')) {
      section = directive(content, where);
      return;
    }
    if (content === '') return;
    if (section === undefined) throw new ConformanceFormatError(`${where}: text before the first section`);
    if (section !== 'ignored') lines[section].push(content);
  });
  const raw =
    lines.raw.length > 0
      ? lines.raw.flatMap((l) => l.split(/\s+/)).map((t) => rawInstruction(parseU64(t, `${path} -- raw`)))
      : undefined;
  const memTokens = lines.mem.flatMap((l) => l.split(/\s+/));
  const mem =
    memTokens.length > 0
      ? Uint8Array.from(memTokens, (t) => {
          if (!/^[0-9a-f]{1,2}$/i.test(t)) throw new ConformanceFormatError(`${path} -- mem: '${t}' is not a hex byte`);
          return Number.parseInt(t, 16);
        })
      : undefined;
  const lastResult = lines.result[lines.result.length - 1];
  return {
    name,
    path,
    asm: lines.asm.join('\n'),
    raw,
    mem,
    result: lastResult !== undefined ? parseU64(lastResult, `${path} -- result`) : undefined,
    error: lines.error.length > 0 ? lines.error.join('\n') : undefined,
  };
}

/** Every `*.data` file of `dir`, sorted by name. */
export function loadConformanceVectors(dir: string): ConformanceVector[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.data'))
    .sort()
    .map((f) => parseConformanceVector(readFileSync(join(dir, f), 'utf8'), join(dir, f)));
}
