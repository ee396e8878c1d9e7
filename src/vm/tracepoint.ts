/**
 * Tracepoint contexts for the VM: a tracepoint program's context is the
 * event's raw record, laid out as tracefs describes it in
 * /sys/kernel/tracing/events/<category>/<name>/format. This module parses
 * that description and builds records from field values, so a tracepoint
 * program can be run on made-up events:
 *
 * ```ts
 * const format = readTracepointFormat('sched', 'sched_process_exec');
 * const ctx = buildTracepointRecord(format, { filename: '/bin/true', pid: 42, old_pid: 42 });
 * program.run({ ctx });
 * ```
 */
import { TsbpfError } from '../errors.ts';
import { fileExists, mountTracefs, readTextFile } from '../host/node.ts';

export class TracepointFormatError extends TsbpfError {
  override name = 'TracepointFormatError';
}

export interface TracepointField {
  name: string;
  /** The C type as tracefs prints it ('const char *', 'char[16]', '__data_loc char[]'...). */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** Elements of a fixed array field (`char comm[16]`: 16), undefined otherwise. */
  arrayLength?: number;
  /** `__data_loc` field: a u32 (length << 16 | offset) locating variable data after the fixed part. */
  dataLoc: boolean;
}

export interface TracepointFormat {
  name: string;
  /** The event id (the record's common_type). */
  id: number;
  fields: TracepointField[];
  /** Bytes of the fixed part of a record (end of the last field). */
  size: number;
  printFormat: string;
}

const FIELD = /^field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);?$/;

/** Parses a tracefs `format` file. Throws TracepointFormatError naming the line for anything else. */
export function parseTracepointFormat(text: string): TracepointFormat {
  let name: string | undefined;
  let id: number | undefined;
  let printFormat = '';
  const fields: TracepointField[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const fail = (problem: string): never => {
      throw new TracepointFormatError(`tracepoint format line ${index + 1}: ${problem}: '${line}'`);
    };
    if (line === '' || line === 'format:') return;
    if (line.startsWith('name:')) name = line.slice(5).trim();
    else if (line.startsWith('ID:')) {
      id = Number(line.slice(3).trim());
      if (!Number.isInteger(id) || id < 0) fail('the ID is not a number');
    } else if (line.startsWith('print fmt:')) printFormat = line.slice(10).trim();
    else if (line.startsWith('field:')) {
      const m = FIELD.exec(line) ?? fail('expected field:TYPE NAME; offset:N; size:N; signed:0|1;');
      const declaration = m[1]!.trim();
      const decl = /^(.*?)([A-Za-z_]\w*)\s*(\[(\d*)\])?$/.exec(declaration) ?? fail('cannot find the field name');
      const dataLoc = declaration.startsWith('__data_loc');
      const arrayLength = decl[3] !== undefined && decl[4] !== '' && !dataLoc ? Number(decl[4]) : undefined;
      const type = `${decl[1]!.trim()}${decl[3] !== undefined ? `[${decl[4]}]` : ''}`;
      const field: TracepointField = { name: decl[2]!, type, offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1', dataLoc, ...(arrayLength !== undefined ? { arrayLength } : {}) };
      if (dataLoc && field.size !== 4) fail('a __data_loc field must be 4 bytes');
      if (fields.some((f) => f.name === field.name)) fail(`field '${field.name}' is defined twice`);
      fields.push(field);
    } else fail('unrecognised line');
  });
  if (name === undefined) throw new TracepointFormatError('tracepoint format has no name: line');
  if (id === undefined) throw new TracepointFormatError(`tracepoint format of '${name}' has no ID: line`);
  if (fields.length === 0) throw new TracepointFormatError(`tracepoint format of '${name}' has no fields`);
  const size = Math.max(...fields.map((f) => f.offset + f.size));
  return { name, id, fields, size, printFormat };
}

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/**
 * Reads and parses the format of tracepoint `category/name` from tracefs,
 * mounting tracefs on /sys/kernel/tracing when it is not mounted (needs root).
 */
export function readTracepointFormat(category: string, name: string, options: { tracefs?: string } = {}): TracepointFormat {
  if (!/^\w+$/.test(category) || !/^\w+$/.test(name)) throw new TracepointFormatError(`invalid tracepoint name '${category}/${name}'`);
  const relative = `events/${category}/${name}/format`;
  const roots = options.tracefs !== undefined ? [options.tracefs] : TRACEFS_ROOTS;
  let root = roots.find((r) => fileExists(joinPath(r, 'events')));
  if (root === undefined && options.tracefs === undefined) {
    try {
      mountTracefs(TRACEFS_ROOTS[0]!);
      root = TRACEFS_ROOTS[0];
    } catch (err) {
      throw Object.assign(new TracepointFormatError(`tracefs is not mounted and could not be mounted on ${TRACEFS_ROOTS[0]} (needs root); give the format text to parseTracepointFormat instead`), { cause: err });
    }
  }
  const path = joinPath(root ?? roots[0]!, relative);
  if (!fileExists(path)) throw new TracepointFormatError(`no tracepoint ${category}/${name} (${path} does not exist)`);
  return parseTracepointFormat(readTextFile(path));
}

/** `directory/relative` with one separator between them (tracefs paths need no further normalising). */
function joinPath(directory: string, relative: string): string {
  return `${directory.replace(/\/+$/, '')}/${relative}`;
}

export type TracepointValue = number | bigint | string | Uint8Array;

/**
 * Builds a record: `common_type` is the event id unless given, every other
 * field not given is zero. Integers are written in `size` little-endian
 * bytes (range-checked for the field's signedness); strings and byte arrays
 * go into char arrays (NUL-padded) or, for `__data_loc` fields, after the
 * fixed part with the location word filled in (strings get their NUL).
 */
export function buildTracepointRecord(format: TracepointFormat, values: Record<string, TracepointValue>): Uint8Array {
  for (const key of Object.keys(values)) {
    if (!format.fields.some((f) => f.name === key)) throw new TracepointFormatError(`tracepoint ${format.name} has no field '${key}' (fields: ${format.fields.map((f) => f.name).join(', ')})`);
  }
  const dynamic: { field: TracepointField; bytes: Uint8Array }[] = [];
  const fixed = new Uint8Array(format.size);
  const view = new DataView(fixed.buffer);
  const all: Record<string, TracepointValue> = { common_type: format.id, ...values };
  for (const field of format.fields) {
    const value = all[field.name];
    if (value === undefined) continue;
    const fail = (problem: string): never => {
      throw new TracepointFormatError(`tracepoint ${format.name} field '${field.name}' (${field.type}, ${field.size} bytes): ${problem}`);
    };
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof Uint8Array ? value : undefined;
    if (field.dataLoc) {
      if (bytes === undefined) fail('a __data_loc field takes a string or bytes');
      dynamic.push({ field, bytes: typeof value === 'string' ? Uint8Array.from([...bytes!, 0]) : bytes! });
      continue;
    }
    if (bytes !== undefined) {
      if (bytes.length > field.size || (typeof value === 'string' && bytes.length === field.size)) fail(`${bytes.length} bytes${typeof value === 'string' ? ' and a NUL' : ''} do not fit`);
      fixed.set(bytes, field.offset);
      continue;
    }
    const n = BigInt(value as number | bigint);
    const bits = BigInt(field.size * 8);
    if (![1, 2, 4, 8].includes(field.size)) fail('only 1, 2, 4 and 8-byte fields take numbers');
    const min = field.signed ? -(1n << (bits - 1n)) : 0n;
    const max = field.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    // Pointers and longs print as unsigned; accept a negative value for them as its two's complement.
    if (n > max || n < (field.signed ? min : -(1n << (bits - 1n)))) fail(`${n} is out of range`);
    const u = BigInt.asUintN(field.size * 8, n);
    for (let i = 0; i < field.size; i++) fixed[field.offset + i] = Number((u >> BigInt(8 * i)) & 0xffn);
  }
  let end = format.size;
  const tail: Uint8Array[] = [];
  for (const { field, bytes } of dynamic) {
    if (bytes.length > 0xffff) throw new TracepointFormatError(`tracepoint ${format.name} field '${field.name}': ${bytes.length} bytes exceed a __data_loc length (65535)`);
    view.setUint32(field.offset, (bytes.length << 16) | end, true);
    tail.push(bytes);
    end += bytes.length;
  }
  const record = new Uint8Array(end);
  record.set(fixed);
  let at = format.size;
  for (const t of tail) {
    record.set(t, at);
    at += t.length;
  }
  return record;
}
