/**
 * The kernel's BPF printf: the format subset bpf_bprintf_prepare accepts
 * (kernel/bpf/helpers.c) and the output vsnprintf gives for it, for
 * bpf_trace_printk, bpf_trace_vprintk, bpf_snprintf (and bpf_seq_printf).
 *
 * Accepted: %% ; flags [0 +-space] and a width; %d %i %u %x %X with l or ll;
 * %c; %s, %pks, %pus (strings read from unsafe pointers, "" on a fault);
 * %p %pK %px %ps %pS %pB (pointers); %pI4 %pi4 %pI6 %pi6 (addresses read
 * through the pointer). Anything else, too many specifiers, a non-printable
 * character or a missing NUL is -EINVAL, as in the kernel. Differences:
 * %p and %pK print the raw value where the kernel prints a hashed one, and
 * %ps/%pS/%pB print the address in hex (there is no symbol table).
 */
import type { VmMemory } from '../memory.ts';
import type { MemoryRange } from './environment.ts';
import { readUnsafe, readUnsafeString } from './memory-access.ts';

/** MAX_BPRINTF_VARARGS. */
export const MAX_PRINTF_ARGS = 12;
/** MAX_BPRINTF_BUF: the longest string %s copies. */
const MAX_STRING = 512;

export type FormatResult = { ok: true; text: string } | { ok: false; reason: string };

interface Spec {
  flags: string;
  width: number;
}

function pad(text: string, spec: Spec, numeric: boolean): string {
  if (text.length >= spec.width) return text;
  if (spec.flags.includes('-')) return text + ' '.repeat(spec.width - text.length);
  if (numeric && spec.flags.includes('0')) {
    const sign = /^[+\- ]/.test(text) ? text[0]! : '';
    return sign + '0'.repeat(spec.width - text.length) + text.slice(sign.length);
  }
  return ' '.repeat(spec.width - text.length) + text;
}

const isPrintableAscii = (c: number): boolean => (c >= 0x20 && c < 0x7f) || (c >= 9 && c <= 13);

/**
 * Formats `format` (the bytes up to but excluding the NUL) with `args`
 * (u64 each, in order; the caller has checked the count the helper allows).
 */
export function formatBpf(format: Uint8Array, args: readonly bigint[], memory: VmMemory, ranges?: readonly MemoryRange[]): FormatResult {
  const fmt = String.fromCharCode(...format);
  let out = '';
  let used = 0;
  const fail = (reason: string): FormatResult => ({ ok: false, reason });
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt.charCodeAt(i);
    if (!isPrintableAscii(c)) return fail(`format byte ${i} (0x${c.toString(16)}) is not printable ASCII`);
    if (fmt[i] !== '%') {
      out += fmt[i];
      continue;
    }
    if (fmt[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    if (used >= args.length) return fail(`more conversion specifiers than the ${args.length} arguments given`);
    const arg = args[used++]!;
    i++;
    const spec: Spec = { flags: '', width: 0 };
    while ('0+- '.includes(fmt[i] ?? 'x') && i < fmt.length) spec.flags += fmt[i++];
    if (fmt[i] !== undefined && fmt[i]! >= '1' && fmt[i]! <= '9') {
      let digits = '';
      while (fmt[i] !== undefined && fmt[i]! >= '0' && fmt[i]! <= '9') digits += fmt[i++];
      spec.width = Number(digits);
    }
    const conversion = fmt[i];
    if (conversion === 'p') {
      const next = fmt[i + 1];
      const after = fmt[i + 2];
      if ((next === 'k' || next === 'u') && after === 's') {
        i += 2;
        out += pad(stringAt(memory, ranges, arg), spec, false);
        continue;
      }
      if ((next === 'I' || next === 'i') && (after === '4' || after === '6')) {
        i += 2;
        const bytes = readUnsafe(memory, ranges, arg, after === '4' ? 4 : 16);
        // The kernel copies the address with a nofault read and prints zeros when that fails.
        const address = bytes ?? new Uint8Array(after === '4' ? 4 : 16);
        out += pad(formatIpArgument(address, next === 'I'), spec, false);
        continue;
      }
      if (next === 'K' || next === 'x' || next === 's' || next === 'S' || next === 'B') i++;
      else if (next !== undefined && /[A-Za-z0-9]/.test(next)) return fail(`unsupported pointer format %p${next}`);
      const hex = BigInt.asUintN(64, arg).toString(16);
      out += pad(next === 's' || next === 'S' || next === 'B' ? `0x${hex}` : hex.padStart(16, '0'), spec, false);
      continue;
    }
    if (conversion === 's') {
      out += pad(stringAt(memory, ranges, arg), spec, false);
      continue;
    }
    if (conversion === 'c') {
      out += pad(String.fromCharCode(Number(arg & 0xffn)), spec, false);
      continue;
    }
    let bits = 32;
    if (fmt[i] === 'l') {
      bits = 64;
      i++;
    }
    if (fmt[i] === 'l') i++;
    const kind = fmt[i];
    if (kind !== 'd' && kind !== 'i' && kind !== 'u' && kind !== 'x' && kind !== 'X') {
      return fail(`unsupported conversion '%${kind ?? ''}' (the kernel accepts d i u x X with l/ll, c, s, p variants)`);
    }
    let text: string;
    if (kind === 'd' || kind === 'i') {
      const v = BigInt.asIntN(bits, arg);
      text = v.toString();
      if (v >= 0n && spec.flags.includes('+')) text = `+${text}`;
      else if (v >= 0n && spec.flags.includes(' ')) text = ` ${text}`;
    } else {
      const v = BigInt.asUintN(bits, arg);
      text = kind === 'u' ? v.toString() : kind === 'x' ? v.toString(16) : v.toString(16).toUpperCase();
    }
    out += pad(text, spec, true);
  }
  return { ok: true, text: out };
}

function stringAt(memory: VmMemory, ranges: readonly MemoryRange[] | undefined, address: bigint): string {
  const found = readUnsafeString(memory, ranges, address, MAX_STRING - 1);
  return found === undefined ? '' : String.fromCharCode(...found.bytes);
}

function formatIpArgument(bytes: Uint8Array, compact: boolean): string {
  if (bytes.length === 4) return Array.from(bytes, (b) => (compact ? String(b) : String(b).padStart(3, '0'))).join('.');
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0'));
  if (!compact) return hex.join('');
  const groups: string[] = [];
  for (let g = 0; g < 8; g++) groups.push(hex[2 * g]! + hex[2 * g + 1]!);
  return groups.join(':');
}
