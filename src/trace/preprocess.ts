import { existsSync } from 'node:fs';
import { traceError } from './errors.ts';

/** Where `#include <x>` is looked for (clang's defaults on Debian, and the running kernel's headers when installed). */
const INCLUDE_DIRS = ['/usr/local/include', '/usr/include/x86_64-linux-gnu', '/usr/include', '/usr/include/aarch64-linux-gnu'];

/**
 * The C-preprocessor subset bpftrace scripts use: `#!` on the first line,
 * `#include` (dropped: types come from kernel BTF), object-like `#define`,
 * and `#ifdef`/`#ifndef`/`#if defined(X)`/`#else`/`#endif` with
 * BPFTRACE_HAVE_BTF defined (the official tools guard their C headers with
 * it). Removed lines become empty so positions stay those of the file.
 */
export function preprocess(source: string): string {
  const defines = new Map<string, string>([['BPFTRACE_HAVE_BTF', '1']]);
  const lines = source.split('\n');
  /** One entry per open conditional: whether its current branch is taken, and whether one was. */
  const stack: { active: boolean; taken: boolean; line: number }[] = [];
  const active = (): boolean => stack.every((s) => s.active);
  let inComment = false;
  const out = lines.map((raw, index) => {
    const line = raw.trim();
    const where = { line: index + 1, column: 1, endColumn: raw.length + 1 };
    if (index === 0 && line.startsWith('#!')) return '';
    // A `#` line inside a /* */ comment is text (gethostlatency.bt's " # need modifications").
    const commented = inComment;
    inComment = endsInComment(raw, inComment);
    if (commented || !line.startsWith('#')) return active() && defines.size > 1 ? substitute(raw, defines) : active() ? raw : '';
    const m = /^#\s*(\w+)\s*(.*)$/.exec(line);
    if (m === null) throw traceError(`invalid preprocessor line`, where);
    const [, directive, rest] = m as unknown as [string, string, string];
    switch (directive) {
      case 'include': {
        // The header's types come from kernel BTF, but as in bpftrace a header that cannot be found is an error.
        if (!active()) return '';
        const header = /^([<"])([^>"]+)[>"]$/.exec(rest.trim());
        if (header === null) throw traceError('#include expects "FILE" or <FILE>', where);
        const name = header[2]!;
        const dirs = header[1] === '"' ? ['.', ...INCLUDE_DIRS] : INCLUDE_DIRS;
        if (!name.startsWith('/') ? !dirs.some((dir) => existsSync(`${dir}/${name}`)) : !existsSync(name)) {
          const column = raw.indexOf(name) + 1;
          throw traceError(`'${name}' file not found`, { line: index + 1, column, endColumn: column + name.length });
        }
        return '';
      }
      case 'define': {
        if (!active()) return '';
        const d = /^([A-Za-z_]\w*)(\s+(.*))?$/.exec(rest);
        if (d === null || rest.includes('(') && /^[A-Za-z_]\w*\(/.test(rest)) throw traceError('only object-like #define is supported', where);
        defines.set(d[1]!, (d[3] ?? '').trim());
        return '';
      }
      case 'undef':
        if (active()) defines.delete(rest.trim());
        return '';
      case 'ifdef':
      case 'ifndef': {
        const holds = defines.has(rest.trim()) === (directive === 'ifdef');
        stack.push({ active: holds, taken: holds, line: index + 1 });
        return '';
      }
      case 'if': {
        const d = /^!?\s*defined\s*\(?\s*(\w+)\s*\)?$/.exec(rest.trim());
        const holds = d !== null ? defines.has(d[1]!) !== rest.trim().startsWith('!') : /^[1-9]\d*$/.test(rest.trim());
        if (d === null && !/^\d+$/.test(rest.trim())) throw traceError(`unsupported #if condition '${rest.trim()}'`, where);
        stack.push({ active: holds, taken: holds, line: index + 1 });
        return '';
      }
      case 'else': {
        const top = stack.at(-1);
        if (top === undefined) throw traceError('#else without #if', where);
        top.active = !top.taken;
        top.taken = true;
        return '';
      }
      case 'endif':
        if (stack.pop() === undefined) throw traceError('#endif without #if', where);
        return '';
      default:
        throw traceError(`unsupported preprocessor directive #${directive}`, where);
    }
  });
  const open = stack.at(-1);
  if (open !== undefined) throw traceError('#if without #endif', { line: open.line, column: 1, endColumn: 2 });
  return out.join('\n');
}

/** Replaces defined names outside string literals. */
function substitute(line: string, defines: Map<string, string>): string {
  return line.replace(/"(?:\\.|[^"\\])*"|[A-Za-z_]\w*/g, (word) => (word.startsWith('"') ? word : (defines.get(word) ?? word)));
}

/** Whether a /* comment is still open at the end of `line`, given whether one was open at its start. */
function endsInComment(line: string, open: boolean): boolean {
  let inComment = open;
  for (let i = 0; i < line.length; i++) {
    if (inComment) {
      if (line.startsWith('*/', i)) {
        inComment = false;
        i++;
      }
    } else if (line[i] === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) if (line[i] === '\\') i++;
    } else if (line.startsWith('//', i)) {
      return false;
    } else if (line.startsWith('/*', i)) {
      inComment = true;
      i++;
    }
  }
  return inComment;
}
