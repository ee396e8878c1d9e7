import { type SourceSpan, traceError } from './errors.ts';

/** One piece of a printf format: literal text or a conversion with its flags and width. */
export interface Conversion {
  flags: string;
  width: string;
  precision: string;
  length: string;
  conversion: string;
}
export type FormatPiece = { text: string } | Conversion;

const CONVERSIONS = 'diuxXoscpr';

/** Splits a printf format as bpftrace's printf accepts it; `%%` stays literal text, as bpftrace 0.17 prints it. */
export function parseFormat(format: string, span: SourceSpan, fn = 'printf'): FormatPiece[] {
  const pieces: FormatPiece[] = [];
  const re = /%(%|([-+ #0]*)(\d*|\*)(\.\d+)?(hh|h|ll|l|z|j|t)?(r[xh]|.?))/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    if (m.index > last) pieces.push({ text: format.slice(last, m.index) });
    last = re.lastIndex;
    if (m[1] === '%') {
      pieces.push({ text: '%%' });
      continue;
    }
    const conversion = m[6] ?? '';
    if (conversion === '' || !(CONVERSIONS.includes(conversion) || conversion === 'rx' || conversion === 'rh')) throw traceError(`${fn}: Invalid format string: '%${m[1]}'`, span);
    if (m[3] === '*') throw traceError(`${fn}: '*' widths are not supported`, span);
    pieces.push({ flags: m[2] ?? '', width: m[3] ?? '', precision: m[4] ?? '', length: m[5] ?? '', conversion });
  }
  if (last < format.length) pieces.push({ text: format.slice(last) });
  return pieces;
}

export function conversionCount(pieces: readonly FormatPiece[]): number {
  return pieces.filter((p) => 'conversion' in p).length;
}
