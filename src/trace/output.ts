/**
 * bpftrace's output, byte for byte: printf conversions, values, and maps
 * (scalars, keyed maps sorted by value, hist/lhist bars, avg, stats) in
 * text and in `-f json`.
 */
import { errnoMessage, syscallName } from '../uapi/index.ts';
import type { Conversion, FormatPiece } from './format-string.ts';
import { type MapInfo, type TraceType, sizeOf } from './types.ts';

/** How the formatter turns stack ids, addresses and probe ids into text. */
export interface Symbolizer {
  probeName(id: number): string;
  /** Frames of stack `id` (kernel when pid is undefined), innermost first, already symbolised. */
  stack(id: number, pid: number | undefined): string[];
  kernelSymbol(address: bigint, withOffset: boolean): string;
  userSymbol(address: bigint, pid: number, withOffset: boolean): string;
  /** strftime(): CLOCK_MONOTONIC nanoseconds as wall-clock time in a strftime(3) format. */
  timestamp(monotonicNs: bigint, format: string): string;
  /** cgroup_path(): `unified:/path` (and `name:/path` per cgroup v1 hierarchy) of a cgroup id, '' when not found. */
  cgroupPath(id: bigint, filter: string): string;
}

/** How buf() bytes print: `%r` (printable ASCII as is, other bytes `\xNN`), `%rx` (every byte `\xNN`), `%rh` (`0a fe`). */
export function formatBuffer(bytes: Uint8Array, style: 'r' | 'rx' | 'rh' = 'r'): string {
  const hex = (b: number): string => b.toString(16).padStart(2, '0');
  if (style === 'rh') return Array.from(bytes, hex).join(' ');
  return Array.from(bytes, (b) => (style === 'r' && b >= 32 && b <= 126 ? String.fromCharCode(b) : `\\x${hex(b)}`)).join('');
}

/** The bytes of a buffer value: its length (capped at its size), then the bytes. */
function bufferBytes(bytes: Uint8Array, offset: number, size: number): Uint8Array {
  const length = Math.min(Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true)), size);
  return bytes.subarray(offset + 8, offset + 8 + length);
}

/** A decoded value. */
export type Value = bigint | string | Value[] | { stack: string[] };

const decoder = new TextDecoder();

export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function readInt(view: DataView, offset: number, type: TraceType): bigint {
  const raw = view.getBigUint64(offset, true);
  if (type.kind !== 'int') return raw;
  return type.signed ? BigInt.asIntN(type.bits, raw) : BigInt.asUintN(type.bits, raw);
}

function formatInet(bytes: Uint8Array): string {
  const family = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const address = bytes.subarray(8, 24);
  if (family === 10) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((address[i]! << 8) | address[i + 1]!).toString(16));
    // Longest run of zero groups collapses to '::' (RFC 5952).
    let best = -1;
    let bestLength = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLength) [best, bestLength] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    if (best < 0) return groups.join(':');
    return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
  }
  return Array.from(address.subarray(0, 4)).join('.');
}

/** Decodes a value of `type` at `offset` of `bytes` and renders it as bpftrace prints it in text (map keys, values, printf %s). */
export function renderValue(bytes: Uint8Array, offset: number, type: TraceType, symbols: Symbolizer): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type.kind) {
    case 'int':
      return readInt(view, offset, type).toString();
    case 'string':
      return cString(bytes.subarray(offset, offset + type.size));
    case 'pointer':
      return `0x${view.getBigUint64(offset, true).toString(16)}`;
    case 'probe':
      return symbols.probeName(Number(view.getBigUint64(offset, true)));
    case 'kstack':
      return stackText(symbols.stack(Number(view.getBigInt64(offset, true)), undefined));
    case 'ustack':
      return stackText(symbols.stack(Number(view.getBigInt64(offset, true)), Number(view.getBigUint64(offset + 8, true))));
    case 'ksym':
      return symbols.kernelSymbol(view.getBigUint64(offset, true), false);
    case 'timestamp':
      return symbols.timestamp(view.getBigUint64(offset, true), type.format);
    case 'usym':
      return symbols.userSymbol(view.getBigUint64(offset, true), Number(view.getBigUint64(offset + 8, true)), false);
    case 'inet':
      return formatInet(bytes.subarray(offset, offset + 24));
    case 'buffer':
      return formatBuffer(bufferBytes(bytes, offset, type.size));
    case 'errno':
      return errnoMessage(Number(view.getBigInt64(offset, true)));
    case 'syscall': {
      const number = Number(view.getBigInt64(offset, true));
      return syscallName(number, 'x64') ?? String(number);
    }
    case 'cgroup_path':
      return symbols.cgroupPath(view.getBigUint64(offset, true), type.filter);
    case 'tuple': {
      const parts: string[] = [];
      let at = offset;
      for (const element of type.elements) {
        parts.push(renderValue(bytes, at, element, symbols));
        at += sizeOf(element);
      }
      return `(${parts.join(', ')})`;
    }
    case 'none':
    case 'record':
      return '';
  }
}

/** bpftrace's stack text: one frame per line, indented by 4 spaces, between newlines; nothing for an empty stack. */
function stackText(frames: string[]): string {
  return frames.length === 0 ? '' : `\n${frames.map((f) => `    ${f}\n`).join('')}`;
}

/** The JSON form of a value: numbers stay numbers, everything else is a string. */
function jsonValue(bytes: Uint8Array, offset: number, type: TraceType, symbols: Symbolizer): string {
  if (type.kind === 'int') return renderValue(bytes, offset, type, symbols);
  if (type.kind === 'tuple') {
    const parts: string[] = [];
    let at = offset;
    for (const element of type.elements) {
      parts.push(jsonValue(bytes, at, element, symbols));
      at += sizeOf(element);
    }
    return `[${parts.join(', ')}]`;
  }
  return jsonString(renderValue(bytes, offset, type, symbols));
}

/** A JSON string as bpftrace writes it. */
export function jsonString(text: string): string {
  return JSON.stringify(text);
}

// ------------------------------------------------------------------ printf

function pad(text: string, flags: string, width: string, zeroAllowed: boolean): string {
  const w = width === '' ? 0 : Number(width);
  if (text.length >= w) return text;
  if (flags.includes('-')) return text.padEnd(w, ' ');
  if (flags.includes('0') && zeroAllowed) {
    const sign = /^[-+ ]/.test(text) ? text[0]! : '';
    return sign + text.slice(sign.length).padStart(w - sign.length, '0');
  }
  return text.padStart(w, ' ');
}

/** Bits a conversion reads: C's default argument size for a 64-bit value passed through varargs, as bpftrace 0.17 does. */
function conversionBits(length: string): number {
  if (length === 'hh') return 8;
  if (length === 'h') return 16;
  if (length === '') return 32;
  return 64;
}

function formatInteger(value: bigint, piece: Conversion): string {
  const bits = conversionBits(piece.length);
  const { conversion, flags } = piece;
  let digits: string;
  if (conversion === 'd' || conversion === 'i') {
    const v = BigInt.asIntN(bits, value);
    const magnitude = (v < 0n ? -v : v).toString();
    const precise = piece.precision !== '' ? magnitude.padStart(Number(piece.precision.slice(1)), '0') : magnitude;
    digits = (v < 0n ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '') + precise;
  } else if (conversion === 'c') {
    return pad(String.fromCharCode(Number(BigInt.asUintN(8, value))), flags, piece.width, false);
  } else {
    const v = BigInt.asUintN(bits, value);
    const radix = conversion === 'o' ? 8 : conversion === 'u' ? 10 : 16;
    digits = v.toString(radix);
    if (conversion === 'X') digits = digits.toUpperCase();
    if (piece.precision !== '') digits = digits.padStart(Number(piece.precision.slice(1)), '0');
    if (flags.includes('#') && v !== 0n && radix !== 10) digits = (radix === 8 ? '0' : conversion === 'X' ? '0X' : '0x') + digits;
  }
  return pad(digits, flags, piece.width, piece.precision === '');
}

/** Formats a printf record's arguments (at `offset` of `record`) with `pieces`. */
export function formatPrintf(pieces: readonly FormatPiece[], args: readonly TraceType[], record: Uint8Array, offset: number, symbols: Symbolizer): string {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  let out = '';
  let at = offset;
  let i = 0;
  for (const piece of pieces) {
    if (!('conversion' in piece)) {
      out += piece.text;
      continue;
    }
    const type = args[i++]!;
    if ('diuxXoc'.includes(piece.conversion) && (type.kind === 'int' || type.kind === 'pointer')) {
      out += formatInteger(readInt(view, at, type), piece);
    } else if (piece.conversion.startsWith('r') && type.kind === 'buffer') {
      out += pad(formatBuffer(bufferBytes(record, at, type.size), piece.conversion as 'r' | 'rx' | 'rh'), piece.flags, piece.width, false);
    } else if (piece.conversion === 'p') {
      out += pad(`0x${view.getBigUint64(at, true).toString(16)}`, piece.flags, piece.width, false);
    } else {
      let text = renderValue(record, at, type, symbols);
      if (piece.precision !== '') text = text.slice(0, Number(piece.precision.slice(1)));
      out += pad(text, piece.flags, piece.width, false);
    }
    at += sizeOf(type);
  }
  return out;
}

// ------------------------------------------------------------------ maps

/** A map's entries as read from the kernel or the VM: per-CPU values already split. */
export interface MapEntries {
  info: MapInfo;
  entries: { key: Uint8Array; values: Uint8Array[] }[];
  /** print(@m, N): only the N entries with the largest values. */
  top?: number;
}

interface Row {
  keyText: string | undefined;
  keyJson: string | undefined;
  /** Sort key. */
  order: bigint;
  /** The entry's key bytes, for a deterministic order among equal values. */
  tie: string;
  value: AggregatedValue;
}

type AggregatedValue =
  | { kind: 'scalar'; value: bigint }
  | { kind: 'value'; text: string; json: string }
  | { kind: 'avg'; count: bigint; total: bigint }
  | { kind: 'histogram'; buckets: Map<number, bigint> };

const u64 = (bytes: Uint8Array, offset: number): bigint => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true);
const s64 = (bytes: Uint8Array, offset: number): bigint => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(offset, true);

function keyParts(info: MapInfo, key: Uint8Array, symbols: Symbolizer): { text: string; json: string } | undefined {
  if (info.keys === undefined) return undefined;
  const texts: string[] = [];
  let at = 0;
  for (const type of info.keys) {
    texts.push(renderValue(key, at, type, symbols));
    at += sizeOf(type);
  }
  return { text: texts.join(', '), json: texts.join(',') };
}

function userKeyBytes(info: MapInfo, key: Uint8Array): string {
  const size = info.keys === undefined ? 0 : info.keys.reduce((t, k) => t + sizeOf(k), 0);
  return Array.from(key.subarray(0, size), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Combines per-CPU values and histogram buckets into one row per user key. */
function rows(map: MapEntries, symbols: Symbolizer): Row[] {
  const { info } = map;
  const byKey = new Map<string, Row>();
  for (const { key, values } of map.entries) {
    const id = userKeyBytes(info, key);
    let row = byKey.get(id);
    const parts = keyParts(info, key, symbols);
    const value = info.value;
    if (value.kind === 'value') {
      const first = values[0]!;
      const text = renderValue(first, 0, value.type, symbols);
      const order = value.type.kind === 'int' ? BigInt(text) : 0n;
      byKey.set(id, { keyText: parts?.text, keyJson: parts?.json, order, tie: value.type.kind === 'int' ? id : text, value: { kind: 'value', text, json: jsonValue(first, 0, value.type, symbols) } });
      continue;
    }
    switch (value.aggregation) {
      case 'count':
      case 'sum': {
        const total = values.reduce((t, v) => t + (value.aggregation === 'count' ? u64(v, 0) : s64(v, 0)), 0n);
        byKey.set(id, { keyText: parts?.text, keyJson: parts?.json, order: total, tie: id, value: { kind: 'scalar', value: value.aggregation === 'count' ? BigInt.asUintN(64, total) : BigInt.asIntN(64, total) } });
        break;
      }
      case 'min':
      case 'max': {
        const set = values.filter((v) => u64(v, 8) !== 0n).map((v) => s64(v, 0));
        const result = set.length === 0 ? 0n : set.reduce((a, b) => (value.aggregation === 'min' ? (b < a ? b : a) : b > a ? b : a));
        byKey.set(id, { keyText: parts?.text, keyJson: parts?.json, order: result, tie: id, value: { kind: 'scalar', value: result } });
        break;
      }
      case 'avg':
      case 'stats': {
        const count = values.reduce((t, v) => t + u64(v, 0), 0n);
        const total = values.reduce((t, v) => t + s64(v, 8), 0n);
        byKey.set(id, { keyText: parts?.text, keyJson: parts?.json, order: count === 0n ? 0n : total / count, tie: id, value: { kind: 'avg', count, total } });
        break;
      }
      case 'hist':
      case 'lhist': {
        if (row === undefined) {
          row = { keyText: parts?.text, keyJson: parts?.json, order: 0n, tie: id, value: { kind: 'histogram', buckets: new Map() } };
          byKey.set(id, row);
        }
        const bucket = Number(u64(key, key.length - 8));
        const count = values.reduce((t, v) => t + u64(v, 0), 0n);
        const buckets = (row.value as { buckets: Map<number, bigint> }).buckets;
        buckets.set(bucket, (buckets.get(bucket) ?? 0n) + count);
        row.order += count;
        break;
      }
    }
  }
  return [...byKey.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0));
}

/** bpftrace's power-of-two label: 1K, 2M... */
function powerLabel(power: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  const unit = Math.min(Math.floor(power / 10), 6);
  return `${(1n << BigInt(power - unit * 10)).toString()}${units[unit]}`;
}

/** bpftrace's lhist label: exact multiples of 1M or 1K get a suffix. */
function linearLabel(n: number): string {
  if (n !== 0 && n % 1048576 === 0) return `${n / 1048576}M`;
  if (n !== 0 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

interface Bucket {
  label: string;
  min: bigint | undefined;
  max: bigint | undefined;
  count: bigint;
}

function histogramBuckets(info: MapInfo, buckets: Map<number, bigint>): Bucket[] {
  const indexes = [...buckets.entries()].filter(([, c]) => c > 0n).map(([i]) => i);
  if (indexes.length === 0) return [];
  const first = Math.min(...indexes);
  const last = Math.max(...indexes);
  const out: Bucket[] = [];
  const value = info.value as { aggregation: string; lhist?: { min: number; max: number; step: number } };
  for (let i = first; i <= last; i++) {
    const count = buckets.get(i) ?? 0n;
    if (value.aggregation === 'hist') {
      if (i === 0) out.push({ label: '(..., 0)', min: undefined, max: -1n, count });
      else if (i === 1) out.push({ label: '[0]', min: 0n, max: 0n, count });
      else if (i === 2) out.push({ label: '[1]', min: 1n, max: 1n, count });
      else out.push({ label: `[${powerLabel(i - 2)}, ${powerLabel(i - 1)})`, min: 1n << BigInt(i - 2), max: (1n << BigInt(i - 1)) - 1n, count });
    } else {
      const { min, max, step } = value.lhist!;
      const buckets = Math.ceil((max - min) / step);
      if (i === 0) out.push({ label: `(..., ${linearLabel(min)})`, min: undefined, max: BigInt(min - 1), count });
      else if (i > buckets) out.push({ label: `[${linearLabel(max)}, ...)`, min: BigInt(max), max: undefined, count });
      else {
        const low = min + (i - 1) * step;
        const high = Math.min(low + step, max);
        out.push({ label: `[${linearLabel(low)}, ${linearLabel(high)})`, min: BigInt(low), max: BigInt(high - 1), count });
      }
    }
  }
  return out;
}

const BAR_WIDTH = 52;

function histogramText(buckets: Bucket[]): string {
  const max = buckets.reduce((m, b) => (b.count > m ? b.count : m), 0n);
  return buckets
    .map((b) => {
      const bar = max === 0n ? 0 : Number((b.count * BigInt(BAR_WIDTH)) / max);
      return `${b.label.padEnd(16)}${b.count.toString().padStart(8)} |${'@'.repeat(bar).padEnd(BAR_WIDTH)}|\n`;
    })
    .join('');
}

/** One map as bpftrace prints it in text at exit or with print(). */
export function formatMapText(map: MapEntries, symbols: Symbolizer): string {
  const name = `@${map.info.name}`;
  const label = (row: Row): string => (row.keyText === undefined ? name : `${name}[${row.keyText}]`);
  const all = map.top !== undefined ? rows(map, symbols).slice(-map.top) : rows(map, symbols);
  if (all.length === 0) return '';
  const value = map.info.value;
  if (value.kind === 'aggregation' && (value.aggregation === 'hist' || value.aggregation === 'lhist')) {
    return all.map((row) => `${label(row)}: \n${histogramText(histogramBuckets(map.info, (row.value as { buckets: Map<number, bigint> }).buckets))}\n`).join('');
  }
  let out = '';
  for (const row of all) {
    const v = row.value;
    if (v.kind === 'scalar') out += `${label(row)}: ${v.value}\n`;
    else if (v.kind === 'value') out += `${label(row)}: ${v.text}\n`;
    else if (v.kind === 'avg') {
      const average = v.count === 0n ? 0n : v.total / v.count;
      out += value.kind === 'aggregation' && value.aggregation === 'stats' ? `${label(row)}: count ${v.count}, average ${average}, total ${v.total}\n` : `${label(row)}: ${average}\n`;
    }
  }
  if (value.kind === 'aggregation' && (value.aggregation === 'avg' || value.aggregation === 'stats')) out += '\n';
  return out;
}

/** One map as bpftrace's `-f json` prints it: one line. */
export function formatMapJson(map: MapEntries, symbols: Symbolizer): string {
  const name = jsonString(`@${map.info.name}`);
  const all = map.top !== undefined ? rows(map, symbols).slice(-map.top) : rows(map, symbols);
  if (all.length === 0) return '';
  const value = map.info.value;
  const kind = value.kind === 'value' ? 'map' : value.aggregation === 'hist' || value.aggregation === 'lhist' ? 'hist' : value.aggregation === 'avg' || value.aggregation === 'stats' ? 'stats' : 'map';
  const render = (row: Row): string => {
    const v = row.value;
    switch (v.kind) {
      case 'scalar':
        return v.value.toString();
      case 'value':
        return v.json;
      case 'avg': {
        const average = v.count === 0n ? 0n : v.total / v.count;
        return value.kind === 'aggregation' && value.aggregation === 'stats' ? `{"count": ${v.count}, "average": ${average}, "total": ${v.total}}` : average.toString();
      }
      case 'histogram':
        return `[${histogramBuckets(map.info, v.buckets)
          .map((b) => `{${[b.min !== undefined ? `"min": ${b.min}` : undefined, b.max !== undefined ? `"max": ${b.max}` : undefined, `"count": ${b.count}`].filter((x) => x !== undefined).join(', ')}}`)
          .join(', ')}]`;
    }
  };
  const data = map.info.keys === undefined ? render(all[0]!) : `{${all.map((row) => `${jsonString(row.keyJson!)}: ${render(row)}`).join(', ')}}`;
  return `{"type": "${kind}", "data": {${name}: ${data}}}\n`;
}
