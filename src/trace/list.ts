import { type TracepointFormat, readTracepointFormat } from '../vm/index.ts';
import { TRACEFS_ROOT, matchTracepoints, wildcard } from './probes.ts';

/** The software events bpftrace offers (perf's PERF_COUNT_SW_*). */
const SOFTWARE_EVENTS = ['cpu-clock', 'cpu', 'task-clock', 'page-faults', 'faults', 'context-switches', 'cs', 'cpu-migrations', 'migrations', 'minor-faults', 'major-faults', 'alignment-faults', 'emulation-faults', 'dummy', 'bpf-output'];

/**
 * `-l PATTERN`: probe names matching a wildcard pattern, one a line; with
 * `verbose`, a tracepoint's fields follow it as bpftrace -lv prints them.
 * A pattern without a probe type matches the name after the last `:`.
 */
export function listProbes(pattern: string | undefined, verbose: boolean, root = TRACEFS_ROOT): string {
  const full = pattern === undefined || pattern === '' ? undefined : wildcard(pattern);
  const bare = pattern !== undefined && !pattern.includes(':') ? wildcard(pattern) : undefined;
  const matches = (name: string): boolean => full === undefined || full.test(name) || (bare !== undefined && bare.test(name.slice(name.lastIndexOf(':') + 1)));
  let out = '';
  const typed = pattern?.includes(':') ? pattern.split(':') : undefined;
  const kind = typed?.[0];
  if (kind === undefined || kind === 'tracepoint' || kind === 't' || kind === '*') {
    const category = typed?.[1] ?? '*';
    const event = typed?.[2] ?? '*';
    for (const tp of matchTracepoints(typed ? category : '*', typed ? event : '*', root)) {
      const name = `tracepoint:${tp.category}:${tp.event}`;
      if (typed === undefined && !matches(name)) continue;
      out += `${name}\n`;
      if (verbose) {
        let format: TracepointFormat | undefined;
        try {
          format = readTracepointFormat(tp.category, tp.event, { tracefs: root });
        } catch {
          format = undefined;
        }
        for (const f of format?.fields.filter((x) => !x.name.startsWith('common_')) ?? []) out += `    ${f.type.replace(/\[\d*\]$/, '')} ${f.name}${f.arrayLength !== undefined && !f.dataLoc ? `[${f.arrayLength}]` : ''}\n`;
      }
    }
  }
  for (const e of SOFTWARE_EVENTS) {
    const name = `software:${e}:`;
    if (matches(name) && (kind === undefined || kind === 'software' || kind === 's')) out += `${name}\n`;
  }
  return out;
}
