/**
 * Every rejection message src/verifier can emit has a test: a case whose
 * expected message it produces (cases*.ts, checked against tsbpf and the
 * running kernel), or another verifier test expecting it. Messages are read
 * from the sources (`new Rejection(idx, '...')`, template parts matching
 * anything); a new message without a test fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { CASES } from './cases.ts';

const SOURCE_DIR = new URL('../../src/verifier/', import.meta.url);
const TEST_DIR = new URL('./', import.meta.url);

/**
 * Messages without a case, each with the reason: no program reaches them, or
 * none this machine's kernel can load to compare with (a message that only
 * an unprivileged or sleepable load, or kernel BTF this build lacks, can
 * produce).
 */
const WITHOUT_CASE: Record<string, string> = {
  'verifier internal error: both branches impossible': 'a consistency check: refinement never makes both sides of a branch impossible',
  'verifier internal error: reference ${id} not found': 'a consistency check: releases look the reference up first',
  'R${regno} variable offset stack access prohibited for !root, var_off=${scalarVarOffString(reg.v)}':
    'unprivileged only, where pointer arithmetic already refuses a variable stack offset (sanitize_check_bounds)',
  'Expected a dynptr of type ${type} as arg #${regno - 1}': 'the typed dynptr arguments not being created belong to release helpers, whose ringbuf check comes first',
  'cannot pass pointer to const bpf_dynptr, the helper mutates it': "a const dynptr is read-only to kfuncs, and helpers that would mutate one stop at the release or 'uninitialized dynptr' check first",
  'R${regno} is ptr_${name} access user memory: off=${off}': "this kernel's vmlinux BTF has no `user` type tag",
  'R${regno} is ptr_${name} access percpu memory: off=${off}': "this kernel's vmlinux BTF has no `percpu` type tag",
  'expected an RCU CS when using ${funcName}': 'only a sleepable program outside an RCU section reaches it; cases load non-sleepable programs',
  "pointer in R${regno} isn't map pointer": 'only the arena kfuncs take a map, and this kernel refuses arena maps and those kfuncs to root',
  'invalid insn idx ${idx} insn_cnt ${this.insns.length}': 'check_cfg refuses falling off the end of the program first',
  'invalid BPF_ALU opcode ${(op >> 4).toString(16)}': 'ALU opcodes past BPF_END are unknown opcodes to the instruction check first',
  'invalid map_ptr to access map->key': 'the map argument is always checked before the key',
  'invalid map_ptr to access map->value': 'the map argument is always checked before the value',
  'invalid map_ptr to access map->type': 'the map argument is always checked before its type is needed',
  'kernel subsystem misconfigured verifier': 'every helper returning a map value takes a map argument',
  'unknown return type ${baseType(ret)} of func ${name}#${helper.id}': "every return type in src/uapi's helper table is handled",
  'func ${name}#${helper.id} reference has not been acquired before': 'the release argument check refuses an unreferenced pointer first',
  'Possibly NULL pointer passed to helper arg${regno}': 'the register type check refuses a maybe-NULL pointer first; the kernel reaches it through bpf_kptr_xchg, which tsbpf does not model',
  'R${regno} type=${regTypeName(reg.type)} expected=fp':
    "printed before the final 'arg#N arg#M memory, len pair leads to invalid memory access' of a kfunc memory argument, which cases check (helpers stop at their argument type check first)",
  'bpf_spin_unlock is missing': "a callback's exit with the lock held; Linux 6.18's wording for that path is not established (the main program's exit has its own message)",
};

interface SourceMessage {
  file: string;
  text: string;
  pattern: RegExp;
}

/**
 * A message literal or template as a pattern for its last line (the
 * kernel's final message; lines before it are state dumps): each `${...}`
 * part matches anything.
 */
function messagePattern(text: string): RegExp {
  // Each `${...}` (nested ones included) becomes one placeholder character first, so that a `\n` inside one is not a line break.
  let flat = '';
  for (let i = 0, depth = 0; i < text.length; i++) {
    if (text.startsWith('${', i)) {
      if (depth++ === 0) flat += PLACEHOLDER;
      i++;
    } else if (depth > 0 && text[i] === '{') depth++;
    else if (depth > 0 && text[i] === '}') depth--;
    else if (depth === 0) flat += text[i];
  }
  const parts = flat.split('\\n').at(-1)!.split(PLACEHOLDER).map((part) => part.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

const PLACEHOLDER = '\u0000';

/**
 * The string literal or template starting at `start` (its quote), without
 * the quotes; a template's `${...}` parts are kept whole, nested quotes and
 * braces included. Undefined when no literal starts there.
 */
function literalAt(source: string, start: number): string | undefined {
  const quote = source[start];
  if (quote !== "'" && quote !== '`') return undefined;
  let depth = 0;
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (quote === '`' && c === '$' && source[i + 1] === '{') {
      depth++;
      i++;
    } else if (depth > 0 && c === '{') depth++;
    else if (depth > 0 && c === '}') depth--;
    else if (depth === 0 && c === quote) return source.slice(start + 1, i);
  }
  return undefined;
}

function sourceMessages(): SourceMessage[] {
  const out: SourceMessage[] = [];
  for (const file of readdirSync(SOURCE_DIR).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, SOURCE_DIR), 'utf8');
    // The message is the second argument; the first (the instruction) holds no top-level comma.
    for (const m of source.matchAll(/new Rejection\([^,]+,\s*/g)) {
      const text = literalAt(source, m.index + m[0].length);
      // A message passed through whole (`${e.message}`) is some other message, tested as itself.
      if (text === undefined || /^\$\{[^}]*\}$/.test(text)) continue;
      out.push({ file, text, pattern: messagePattern(text) });
    }
  }
  return out;
}

/** What the tests expect: every case's message, and the string literals of the other verifier tests. */
function expectedMessages(): string[] {
  const out = CASES.map((c) => c.expect);
  for (const file of readdirSync(TEST_DIR).filter((f) => f.endsWith('.test.ts') && f !== 'messages.test.ts')) {
    // Comments out first: an apostrophe in one would pair with the next string's quote.
    const source = readFileSync(new URL(file, TEST_DIR), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of source.matchAll(/(['"`])((?:(?!\1)[^\\]|\\.)*)\1/g)) out.push(m[2]!.replace(/\\n/g, '\n'));
  }
  return out;
}

test('every rejection message of src/verifier has a test that expects it', () => {
  const messages = sourceMessages();
  assert.ok(messages.length > 150, `read ${messages.length} messages`);
  const expected = expectedMessages();
  const untested = messages.filter((m) => WITHOUT_CASE[m.text] === undefined && !expected.some((e) => m.pattern.test(e)));
  const list = untested.map((m) => `  ${m.file}: ${m.text}`).join('\n');
  assert.equal(untested.length, 0, `${untested.length} messages without a case (add one to cases-messages.ts, checked against the kernel):\n${list}`);
});

test('the messages without a case are still in the sources, and none of them has a case after all', () => {
  const texts = new Set(sourceMessages().map((m) => m.text));
  const expected = expectedMessages();
  for (const text of Object.keys(WITHOUT_CASE)) {
    assert.ok(texts.has(text), `no longer in the sources: ${text}`);
    assert.ok(!expected.some((e) => messagePattern(text).test(e)), `has a case now, drop it from WITHOUT_CASE: ${text}`);
  }
});
