/**
 * Plain-words explanations of verifier rejections: what was unsafe, the
 * path that led there (in source lines when the object has line info),
 * and the usual fix. The kernel's message stays the primary fact; this is
 * what a person needs to act on it.
 */
import type { LineInfo } from '../object/index.ts';
import { findLineInfo } from './log.ts';

export interface Explanation {
  /** Short category, stable for tools: 'null-check', 'packet-bounds', ... */
  kind: string;
  /** What was unsafe, in plain words. */
  summary: string;
  /** The usual fix. */
  fix: string;
  /** The path that led to the rejection, as source lines (or instruction indexes without line info). */
  path: string[];
}

interface Rule {
  test: RegExp;
  kind: string;
  summary: (m: RegExpExecArray) => string;
  fix: string;
}

const RULES: readonly Rule[] = [
  {
    test: /^R(\d+) invalid mem access '(\w*_or_null)'/,
    kind: 'null-check',
    summary: (m) => `R${m[1]} may be NULL here (${m[2]}): a map lookup, socket lookup or ring buffer reservation can fail, and the program dereferences the result without checking.`,
    fix: 'Check the pointer against NULL before using it: `if (!value) return 0;` right after bpf_map_lookup_elem / bpf_ringbuf_reserve.',
  },
  {
    test: /^R(\d+) invalid mem access 'scalar'/,
    kind: 'not-a-pointer',
    summary: (m) => `R${m[1]} holds a plain number, not a pointer the verifier knows, and the program reads or writes memory through it.`,
    fix: 'Access memory only through pointers the verifier tracks (ctx, stack, map values, checked packet pointers); use bpf_probe_read_kernel/user for other addresses.',
  },
  {
    test: /invalid access to packet, off=(-?\d+) size=(\d+)/,
    kind: 'packet-bounds',
    summary: (m) => `The program reads ${m[2]} byte(s) at offset ${m[1]} of the packet without having proven that the packet is that long.`,
    fix: 'Compare against data_end first: `if (data + OFFSET + SIZE > data_end) return XDP_DROP;`. If the check is there in C, clang may have moved it: add `barrier_var(ptr)` or compare the same pointer you dereference.',
  },
  {
    test: /^R(\d+) offset is outside of the packet/,
    kind: 'packet-bounds',
    summary: (m) => `R${m[1]} points past the part of the packet proven to exist.`,
    fix: 'Check `ptr + size <= data_end` on the pointer you dereference, after any arithmetic on it.',
  },
  {
    test: /invalid access to map value, value_size=(\d+) off=(-?\d+) size=(\d+)/,
    kind: 'map-value-bounds',
    summary: (m) => `The access of ${m[3]} byte(s) at offset ${m[2]} goes outside the ${m[1]}-byte map value.`,
    fix: 'Bound the index before using it: `if (i >= ARRAY_LEN) return 0;` (unsigned), or mask it `i &= ARRAY_LEN - 1` for a power-of-two length.',
  },
  {
    test: /^R(\d+) (min|max) value is outside of the allowed memory range/,
    kind: 'variable-offset-bounds',
    summary: (m) => `R${m[1]} has a variable offset whose ${m[2] === 'min' ? 'smallest' : 'largest'} possible value lands outside the object.`,
    fix: 'Add a bounds check on the index that the verifier can see on this path (unsigned compare against the array length) right before the access.',
  },
  {
    test: /min value is negative/,
    kind: 'negative-index',
    summary: () => 'An index used for memory access or as a size may be negative.',
    fix: 'Use an unsigned type for the index or size, or check `if (idx < 0) return 0;`; `var &= MASK` also bounds it.',
  },
  {
    test: /unbounded memory access/,
    kind: 'unbounded',
    summary: () => 'A variable offset or size has no upper bound the verifier can prove.',
    fix: "Bound it before the access: `if (len > MAX) return 0;` or `len &= MAX - 1` (MAX a power of two).",
  },
  {
    test: /invalid (indirect )?read from stack/,
    kind: 'uninitialized-stack',
    summary: () => 'The program (or a helper it calls) reads stack memory that was never written on this path.',
    fix: 'Initialise the variable or struct before use (`struct key k = {};` or __builtin_memset), including padding bytes of structs passed to helpers.',
  },
  {
    test: /^R(\d+) !read_ok/,
    kind: 'uninitialized-register',
    summary: (m) => `R${m[1]} is read before anything was written to it on this path (after a call, r1-r5 are clobbered).`,
    fix: 'Make sure the value is computed on every path that reaches here; keep values needed after a helper call in r6-r9 or on the stack.',
  },
  {
    test: /BPF program is too large|The sequence of \d+ jumps is too complex|infinite loop detected/,
    kind: 'complexity',
    summary: () => 'The verifier cannot prove that the program terminates within its limits: a loop without a bound it can see, or too many paths.',
    fix: 'Give loops a constant upper bound (`for (i = 0; i < 64 && i < n; i++)`), use bpf_loop() or bpf_for() for long loops, or split the work with tail calls.',
  },
  {
    test: /^Unreleased reference id=(\d+) alloc_insn=(\d+)/,
    kind: 'reference-leak',
    summary: (m) => `A reference acquired at instruction ${m[2]} (a ring buffer reservation or socket lookup) is not released on this path.`,
    fix: 'Call bpf_ringbuf_submit()/bpf_ringbuf_discard() or bpf_sk_release() on every path after a successful acquire, including early returns.',
  },
  {
    test: /^R(\d+) type=(\S+) expected=(.+)/,
    kind: 'helper-argument',
    summary: (m) => `Helper argument R${m[1]} is a ${m[2]}, but the helper expects one of: ${m[3]}.`,
    fix: 'Pass the kind of pointer the helper expects: for map helpers a pointer to a key/value on the stack or in a map value, for sizes a bounded scalar.',
  },
  {
    test: /^At (program exit|callback return) the register R0 has (.*) should have been in \[(-?\d+), (-?\d+)\]/,
    kind: 'return-value',
    summary: (m) => `The program can return a value outside [${m[3]}, ${m[4]}], the range this program type accepts.`,
    fix: 'Return only the allowed values (for cgroup programs 1 = allow, 0 = deny); clamp computed results.',
  },
  {
    test: /combined stack size of (\d+) calls is (\d+)/,
    kind: 'stack-size',
    summary: (m) => `The call chain uses ${m[2]} bytes of stack; the kernel allows 512 in total across all frames.`,
    fix: 'Move large buffers to a per-CPU array map and work on the map value instead of the stack.',
  },
  {
    test: /invalid bpf_context access off=(\d+) size=(\d+)/,
    kind: 'context-access',
    summary: (m) => `The program reads or writes ${m[2]} byte(s) at offset ${m[1]} of its context, which this program type does not allow (wrong field, size or write access).`,
    fix: 'Use the context fields the program type allows, at their declared size; for tracepoints read the record layout from the format file.',
  },
  {
    test: /cannot call GPL-restricted function/,
    kind: 'license',
    summary: () => 'The program calls a GPL-only helper but its license is not GPL-compatible.',
    fix: 'Declare a GPL-compatible license: `char LICENSE[] SEC("license") = "GPL";`.',
  },
  {
    test: /program of this type cannot use helper (\S+)/,
    kind: 'helper-availability',
    summary: (m) => `${m[1]} is not available to this program type.`,
    fix: 'Use a helper available to the program type, or change the program type (section name) to one that offers it.',
  },
  {
    test: /leaks addr/,
    kind: 'pointer-leak',
    summary: () => 'A kernel pointer would become visible to user space (stored in a map, returned, or passed as a number).',
    fix: 'Store or return only scalars derived from data, not pointers.',
  },
  {
    test: /pointer arithmetic on (\S+) prohibited/,
    kind: 'pointer-arithmetic',
    summary: (m) => `Arithmetic on a ${m[1]} pointer is not allowed${m[0].includes('null-check') ? ' before it is checked against NULL' : ''}.`,
    fix: 'Check the pointer against NULL first, and do arithmetic only on pointers to ctx, stack, map values, packet or memory.',
  },
  {
    test: /div by zero/,
    kind: 'division',
    summary: () => 'Division or modulo by the constant zero.',
    fix: 'Divide by a non-zero constant or by a register (division by a zero register gives 0 at run time).',
  },
  {
    test: /^(.+) cannot be used inside bpf_spin_lock-ed region/,
    kind: 'spin-lock',
    summary: (m) => `${m[1] === 'BPF_EXIT instruction in main prog' ? 'The program can return' : `${m[1]} is reached`} while a bpf_spin_lock is held: the lock would never be released.`,
    fix: 'Call bpf_spin_unlock() on every path before returning, tail-calling or loading from the packet; keep the locked region short and straight-line.',
  },
  {
    test: /^(bpf_\w+) cannot be accessed directly by load\/store/,
    kind: 'special-field',
    summary: (m) => `The program reads or writes the ${m[1]} inside a map value directly; the kernel manages that field and only its helpers may touch it.`,
    fix: 'Use the field only through its helpers (bpf_spin_lock()/bpf_spin_unlock(), bpf_timer_*()), and keep your data in the other members of the value.',
  },
  {
    test: /bpf_spin_unlock without taking a lock|bpf_spin_unlock of different lock/,
    kind: 'spin-lock',
    summary: () => 'bpf_spin_unlock() is reached on a path that did not take this lock (or took another value\'s lock).',
    fix: 'Take and release the lock on the same pointer, in the same block: bpf_spin_lock(&v->lock); ...; bpf_spin_unlock(&v->lock);',
  },
  {
    test: /doesn't point to 'struct bpf_spin_lock'|has no valid bpf_spin_lock|has to have BTF in order to use bpf_spin_lock|bpf_spin_lock has to be at the constant offset/,
    kind: 'spin-lock',
    summary: () => "The pointer passed to bpf_spin_lock()/bpf_spin_unlock() is not the struct bpf_spin_lock member of a BTF-described map value.",
    fix: 'Declare the map with BTF (libbpf\'s SEC(".maps") syntax), put one struct bpf_spin_lock in its value type, and pass &value->lock.',
  },
  {
    test: /global function calls are not allowed while holding a lock|use static function instead/,
    kind: 'spin-lock',
    summary: () => 'A global (non-static) function, verified on its own, is called while a bpf_spin_lock is held.',
    fix: 'Make the function static (or __always_inline), or call it after bpf_spin_unlock().',
  },
  {
    test: /function calls are not allowed while holding a lock/,
    kind: 'spin-lock',
    summary: () => 'A function is called while a bpf_spin_lock is held; only bpf_spin_unlock() may be (a second bpf_spin_lock() would deadlock).',
    fix: 'Release the lock before calling helpers or functions, and take it once: copy what you need under the lock, then work on the copy.',
  },
  {
    test: /^(tracing|socket filter) progs cannot use (\S+) yet/,
    kind: 'map-compatibility',
    summary: (m) => `The program uses a map whose value contains a ${m[2].replace(/[{}]/g, '')}, which ${m[1]} programs may not use.`,
    fix: 'Keep the lock or timer in a map used by other program types (tc, XDP, cgroup), or use a map value without it here (e.g. per-CPU data instead of a lock).',
  },
  {
    test: /Sleepable programs can only use array, hash, ringbuf and local storage maps|bpf_struct_ops map cannot be used in prog/,
    kind: 'map-compatibility',
    summary: (m) => (m[0].startsWith('Sleepable') ? 'A sleepable program references a map type it may not use.' : 'A struct_ops map is referenced from a program.'),
    fix: 'Use an array, hash, ring buffer or local-storage map from sleepable programs; struct_ops maps are only attached, never read by programs.',
  },
  {
    test: /^only read from (\S+) is supported/,
    kind: 'context-access',
    summary: (m) => `The program writes into the map's kernel struct (${m[1]}), which programs may only read.`,
    fix: 'Write into map values (through bpf_map_lookup_elem), not into the map pointer itself.',
  },
  {
    test: /kfuncs\) are not modelled/,
    kind: 'unsupported',
    summary: () => "The program calls a kernel function (kfunc); tsbpf's verifier does not check kfunc calls yet.",
    fix: 'Load it into the kernel (which checks it) or verify with --no-verify on the VM where the kfunc is not needed.',
  },
];

/** The explanation of a rejection with the kernel's `message`, on the path `path` (instruction indexes). */
export function explain(message: string, path: readonly number[], lineInfo: readonly LineInfo[]): Explanation {
  const first = message.split('\n')[0]!;
  for (const rule of RULES) {
    const m = rule.test.exec(first) ?? rule.test.exec(message);
    if (m) return { kind: rule.kind, summary: rule.summary(m), fix: rule.fix, path: describePath(path, lineInfo) };
  }
  return {
    kind: 'other',
    summary: `The kernel's verifier would refuse this: ${first}.`,
    fix: 'See the log above the message for the state of each register on the failing path.',
    path: describePath(path, lineInfo),
  };
}

/** Source lines along the path (each once, in order), or instruction indexes when there is no line info. */
function describePath(path: readonly number[], lineInfo: readonly LineInfo[]): string[] {
  const out: string[] = [];
  if (lineInfo.length === 0) {
    const tail = path.slice(-12);
    return tail.map((i) => `insn ${i}`);
  }
  let previous: LineInfo | undefined;
  for (const idx of path) {
    const line = findLineInfo(lineInfo, idx);
    if (line === undefined || line === previous || (previous && previous.line === line.line && previous.fileName === line.fileName)) continue;
    previous = line;
    const file = line.fileName.slice(line.fileName.lastIndexOf('/') + 1);
    out.push(`${file}:${line.line}: ${line.lineText.trim()}`);
  }
  return out.slice(-12);
}

/** The explanation as text for terminals: summary, path, fix. */
export function formatExplanation(e: Explanation): string {
  const lines = [`why: ${e.summary}`];
  if (e.path.length > 0) lines.push('path:', ...e.path.map((p) => `  ${p}`));
  lines.push(`fix: ${e.fix}`);
  return lines.join('\n');
}
