/**
 * A running script, whatever executes it (the kernel or the VM): runs
 * BEGIN, turns ring buffer records into output, runs interval probes, and
 * at the end detaches, runs END and prints every map as bpftrace does.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BpfMap, BpfProgram } from '../backend/index.ts';
import { splitPerCpuValues } from '../backend/index.ts';
import { KernelSymbols, ProcessSymbolsCache, type ResolvedSymbol } from '../kernel/index.ts';
import { type EventSpec, JOIN_ARG_SIZE, LOST_MAP, STACK_DEPTH, STACK_MAP } from './codegen.ts';
import type { CompiledScript } from './compile.ts';
import { CgroupPaths } from './cgroup.ts';
import { TraceRuntimeError } from './errors.ts';
import { type MapEntries, type Symbolizer, cString, formatMapJson, formatMapText, formatPrintf, jsonString } from './output.ts';
import type { MapInfo } from './types.ts';

/** What a backend gives a session: its maps and programs, and its ring buffer. */
export interface LoadedScript {
  map(name: string): BpfMap | undefined;
  program(name: string): BpfProgram;
  /** Delivers at most `max` of the ring buffer records available now; returns how many. */
  poll(callback: (record: Uint8Array) => void, max: number): number;
  /** Resolves when records may be available or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void>;
  /** Values per element of per-CPU maps. */
  readonly cpus: number;
}

export interface SessionOptions {
  /** Where output goes (stdout or -o FILE). */
  write: (text: string) => void;
  format: 'text' | 'json';
  /** Stops the session as Ctrl-C does. */
  signal?: AbortSignal;
  /** Ends the session after this long (tests, benchmarks). */
  durationMs?: number;
  /** Kernel symbols (default: /proc/kallsyms, read when first needed). */
  kernelSymbols?: KernelSymbols;
  userSymbols?: ProcessSymbolsCache;
}

/** bpftrace's frame text: `name+offset` in decimal (or the bare name), the hex address when nothing names it. */
function frameText(address: bigint, symbol: ResolvedSymbol | undefined, withOffset = true): string {
  if (symbol === undefined) return `0x${address.toString(16)}`;
  return withOffset ? `${symbol.name}+${symbol.offset}` : symbol.name;
}

/** Records handled between two checks for the end of the session. */
const RECORDS_PER_TURN = 4096;

/** Raw tracepoint programs run with BPF_PROG_TEST_RUN need a context of u64 arguments. */
const TEST_RUN_CONTEXT = new Uint8Array(8);

export class TraceSession {
  readonly #symbols: Symbolizer;
  #exited = false;
  #lostReported = 0n;

  constructor(
    readonly compiled: CompiledScript,
    readonly loaded: LoadedScript,
    readonly options: SessionOptions,
  ) {
    let kernel = options.kernelSymbols;
    let kernelUnreadable = false;
    const kernelSymbol = (address: bigint): ResolvedSymbol | undefined => {
      if (kernel === undefined && !kernelUnreadable) {
        try {
          kernel = new KernelSymbols();
        } catch {
          // kallsyms hidden (kptr_restrict): kernel frames print as addresses, as bpftrace's do.
          kernelUnreadable = true;
        }
      }
      return kernel?.lookup(address);
    };
    const user = options.userSymbols ?? new ProcessSymbolsCache();
    const cgroups = new CgroupPaths();
    const symbolize = (address: bigint, pid: number | undefined, withOffset = true): string => frameText(address, pid === undefined ? kernelSymbol(address) : user.resolve(pid, address), withOffset);
    this.#symbols = {
      probeName: (id) => compiled.probeNames.get(id) ?? `probe ${id}`,
      stack: (id, pid) => this.#stack(id, pid, symbolize),
      kernelSymbol: (address, withOffset) => symbolize(address, undefined, withOffset),
      userSymbol: (address, pid, withOffset) => symbolize(address, pid, withOffset),
      timestamp: (monotonicNs, format) => {
        const us = wallClockMicroseconds(monotonicNs);
        return strftime(format, new Date(Number(us / 1000n)), Number(us % 1_000_000n));
      },
      cgroupPath: (id, filter) => cgroups.path(id, filter),
    };
  }

  /** How this session names probes, stacks, addresses and timestamps (also used by the exporter's script sources). */
  get symbols(): Symbolizer {
    return this.#symbols;
  }

  #stack(id: number, pid: number | undefined, symbolize: (address: bigint, pid: number | undefined) => string): string[] {
    const map = this.loaded.map(STACK_MAP);
    if (map === undefined || id < 0) return [];
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, id, true);
    const value = map.lookup(key);
    if (value === undefined) return [];
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const frames: string[] = [];
    for (let i = 0; i < STACK_DEPTH; i++) {
      const address = view.getBigUint64(i * 8, true);
      if (address === 0n) break;
      frames.push(symbolize(address, pid));
    }
    return frames;
  }

  /** `Attaching N probes...` as bpftrace prints it (or its JSON line). */
  attachingMessage(): string {
    const n = this.compiled.probes.length;
    return this.options.format === 'json' ? `{"type": "attached_probes", "data": {"probes": ${n}}}\n` : `Attaching ${n} probe${n === 1 ? '' : 's'}...\n`;
  }

  #emit(kind: string, text: string): void {
    if (this.options.format === 'json') this.options.write(`{"type": "${kind}", "data": ${jsonString(text)}}\n`);
    else this.options.write(text);
  }

  #runProbes(kind: 'begin' | 'end'): void {
    const done = new Set<string>();
    for (const probe of this.compiled.probes) {
      if (probe.target.kind !== kind || done.has(probe.program)) continue;
      done.add(probe.program);
      this.loaded.program(probe.program).run({ ctx: TEST_RUN_CONTEXT });
      this.drain();
    }
  }

  /** Handles the records available now, at most `max` (so a flood of events cannot keep the loop from seeing a stop). */
  drain(max = Infinity): void {
    this.loaded.poll((record) => {
      if (!this.#exited) this.#handle(record);
    }, max);
  }

  #handle(record: Uint8Array): void {
    const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
    const index = Number(view.getBigUint64(0, true));
    const event: EventSpec | undefined = this.compiled.events[index];
    if (event === undefined) throw new TraceRuntimeError(`a probe sent an unknown event ${index}`);
    switch (event.kind) {
      case 'printf':
        this.#emit('printf', formatPrintf(event.pieces, event.args, record, 8, this.#symbols));
        return;
      case 'system': {
        const command = formatPrintf(event.pieces, event.args, record, 8, this.#symbols);
        let output = '';
        try {
          output = execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        } catch (error) {
          output = String((error as { stdout?: string }).stdout ?? '');
        }
        this.#emit('system', output);
        return;
      }
      case 'cat': {
        const path = formatPrintf(event.pieces, event.args, record, 8, this.#symbols);
        try {
          this.#emit('cat', readFileSync(path, 'latin1'));
        } catch (error) {
          this.#emit('cat', `cat: ${path}: ${(error as Error).message}\n`);
        }
        return;
      }
      case 'exit':
        this.#exited = true;
        return;
      case 'print':
        this.#printMap(this.compiled.maps.get(event.map)!, event.top);
        return;
      case 'clear':
      case 'zero':
        this.#clearMap(this.compiled.maps.get(event.map)!, event.kind === 'zero');
        return;
      case 'time':
        this.#emit('time', strftime(event.format, new Date()));
        return;
      case 'join': {
        const count = Math.min(Number(view.getBigUint64(8, true)), (record.length - 16) / JOIN_ARG_SIZE);
        const args: string[] = [];
        for (let i = 0; i < count; i++) args.push(cString(record.subarray(16 + i * JOIN_ARG_SIZE, 16 + (i + 1) * JOIN_ARG_SIZE)));
        this.#emit('join', `${args.join(event.delimiter)}\n`);
        return;
      }
    }
  }

  /** The entries of a script map, per-CPU values split. */
  readMap(info: MapInfo): MapEntries {
    const map = this.loaded.map(info.kernelName);
    if (map === undefined) return { info, entries: [] };
    const entries: MapEntries['entries'] = [];
    for (const [key, value] of map.entries()) {
      const values = map.perCpu ? splitPerCpuValues(value, { valueSize: map.valueSize, valueStride: (map.valueSize + 7) & ~7, cpus: this.loaded.cpus }) : [value];
      entries.push({ key: new Uint8Array(key), values });
    }
    return { info, entries };
  }

  #printMap(info: MapInfo, top?: number): void {
    const entries = { ...this.readMap(info), ...(top !== undefined && top > 0 ? { top } : {}) };
    if (this.options.format === 'json') {
      this.options.write(formatMapJson(entries, this.#symbols));
      return;
    }
    // bpftrace 0.17 prints an empty map as an empty line, except a count or sum without keys, which reads as 0.
    const value = info.value;
    const zero = info.keys === undefined && value.kind === 'aggregation' && (value.aggregation === 'count' || value.aggregation === 'sum');
    this.options.write(formatMapText(entries, this.#symbols) || (zero ? `@${info.name}: 0\n` : '\n'));
  }

  #clearMap(info: MapInfo, zero: boolean): void {
    const map = this.loaded.map(info.kernelName);
    if (map === undefined) return;
    const keys = [...map.keys()];
    for (const key of keys) {
      if (zero) map.update(key, new Uint8Array(map.valueBufferSize));
      else map.delete(key);
    }
  }

  /** Events lost so far (ring buffer full), as last read: still valid after the session ended. */
  get lost(): bigint {
    return this.#lostReported;
  }

  /** Events the probes could not write (ring buffer full), summed over CPUs, read now. */
  lostEvents(): bigint {
    const map = this.loaded.map(LOST_MAP);
    const value = map?.lookup(new Uint8Array(4));
    if (map === undefined || value === undefined) return 0n;
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    let total = 0n;
    for (let at = 0; at + 8 <= value.length; at += 8) total += view.getBigUint64(at, true);
    return total;
  }

  #reportLost(): void {
    const lost = this.lostEvents();
    if (lost <= this.#lostReported) return;
    const fresh = lost - this.#lostReported;
    this.#lostReported = lost;
    this.options.write(this.options.format === 'json' ? `{"type": "lost_events", "data": {"events": ${fresh}}}\n` : `Lost ${fresh} events\n`);
  }

  /** Runs BEGIN (the caller has attached the other probes and printed the attaching message). */
  begin(): void {
    this.#runProbes('begin');
  }

  /** Runs until exit(), the signal, the duration or `until` (-c: the command exited); interval probes fire meanwhile. */
  async loop(until?: Promise<unknown>): Promise<void> {
    const timers: NodeJS.Timeout[] = [];
    let stop = this.#exited;
    const stopNow = (): void => {
      stop = true;
    };
    this.options.signal?.addEventListener('abort', stopNow, { once: true });
    if (this.options.signal?.aborted) stop = true;
    void until?.then(stopNow, stopNow);
    const deadline = this.options.durationMs !== undefined ? Date.now() + this.options.durationMs : Infinity;
    try {
      for (const probe of this.compiled.probes) {
        if (probe.target.kind !== 'interval') continue;
        const program = this.loaded.program(probe.program);
        // Records are handled right after each run, so an exit() stops the next firing.
        const fire = (): void => {
          if (stop || this.#exited) return;
          program.run({ ctx: TEST_RUN_CONTEXT });
          this.drain(RECORDS_PER_TURN);
        };
        timers.push(setInterval(fire, Math.max(1, probe.target.periodNs! / 1e6)));
      }
      while (!stop && !this.#exited) {
        this.drain(RECORDS_PER_TURN);
        this.#reportLost();
        if (this.#exited || stop) break;
        const left = deadline - Date.now();
        if (left <= 0) break;
        await this.loaded.wait(Math.min(left, 100));
      }
    } finally {
      timers.forEach((t) => clearInterval(t));
      this.options.signal?.removeEventListener('abort', stopNow);
    }
  }

  /** After detaching: END, the remaining records, then every map, as bpftrace prints at exit. */
  end(): void {
    this.drain();
    const exited = this.#exited;
    this.#exited = false;
    this.#runProbes('end');
    this.#exited ||= exited;
    this.#reportLost();
    this.options.write('\n\n');
    const names = [...this.compiled.maps.keys()].sort();
    for (const name of names) this.#printMap(this.compiled.maps.get(name)!);
  }
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The wall-clock time, in microseconds since the epoch, of a CLOCK_MONOTONIC instant (process.hrtime is CLOCK_MONOTONIC). */
function wallClockMicroseconds(monotonicNs: bigint): bigint {
  return BigInt(Date.now()) * 1000n - (process.hrtime.bigint() - monotonicNs) / 1000n;
}

/** The strftime conversions time() formats use, in local time, and bpftrace's %f (microseconds). */
export function strftime(format: string, date: Date, microseconds = date.getMilliseconds() * 1000): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return format.replace(/%([a-zA-Z%])/g, (whole, c: string) => {
    switch (c) {
      case 'H': return two(date.getHours());
      case 'M': return two(date.getMinutes());
      case 'S': return two(date.getSeconds());
      case 'Y': return String(date.getFullYear());
      case 'y': return two(date.getFullYear() % 100);
      case 'm': return two(date.getMonth() + 1);
      case 'd': return two(date.getDate());
      case 'e': return String(date.getDate()).padStart(2, ' ');
      case 'j': return String(Math.floor((date.getTime() - new Date(date.getFullYear(), 0, 1).getTime()) / 86400000) + 1).padStart(3, '0');
      case 'a': return DAYS[date.getDay()]!.slice(0, 3);
      case 'A': return DAYS[date.getDay()]!;
      case 'b': return MONTHS[date.getMonth()]!.slice(0, 3);
      case 'B': return MONTHS[date.getMonth()]!;
      case 'I': return two(((date.getHours() + 11) % 12) + 1);
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 's': return String(Math.floor(date.getTime() / 1000));
      case 'T': return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
      case 'D': return `${two(date.getMonth() + 1)}/${two(date.getDate())}/${two(date.getFullYear() % 100)}`;
      case 'F': return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
      case '%': return '%';
      case 'f': return String(microseconds).padStart(6, '0');
      default: return whole;
    }
  });
}
