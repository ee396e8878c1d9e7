// The corpus's reading of the selftests' annotations (test_loader.c's
// parse_test_spec and validate_msgs), from decl tags clang wrote and from
// tag lists; fuzzed so that only AnnotationError escapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCollectionSpec } from '../../src/object/index.ts';
import {
  AnnotationError,
  DEFAULT_TEST_PROG_FLAGS,
  PROG_FLAGS,
  annotationsFromTags,
  compileExpectedMessage,
  firstUnmatchedMessage,
  parseTestAnnotations,
} from '../support/verifier-corpus/annotations.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

test('annotations come from the decl tags clang wrote on each program', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('corpus', 'annotated.c')));
  const nullValue = parseTestAnnotations(spec.btf!, 'null_value');
  assert.equal(nullValue.description, 'rejects a null map value');
  assert.equal(nullValue.logLevel, 2);
  assert.equal(nullValue.programFlags, (DEFAULT_TEST_PROG_FLAGS | PROG_FLAGS.BPF_F_ANY_ALIGNMENT!) & ~PROG_FLAGS.BPF_F_TEST_RND_HI32!);
  assert.equal(nullValue.privileged?.verdict, 'reject');
  assert.deepEqual(nullValue.privileged?.messages.map((m) => m.text), ["R0 invalid mem access 'map_value_or_null'", '{{[0-9]+}}: (95) exit'], 'in source order, counter prefix dropped');
  assert.equal(nullValue.privileged?.messages[0]!.regex, undefined);
  assert.ok(nullValue.privileged?.messages[1]!.regex?.test('12: (95) exit'));
  assert.equal(nullValue.unprivileged?.verdict, 'accept', '__success_unpriv');
  assert.deepEqual(nullValue.unprivileged?.messages.map((m) => m.text), nullValue.privileged?.messages.map((m) => m.text), 'unprivileged inherits the messages');

  const returns = parseTestAnnotations(spec.btf!, 'returns');
  assert.deepEqual([returns.privileged?.verdict, returns.privileged?.retval, returns.unprivileged], ['accept', -2147483648, undefined]);
  assert.equal(parseTestAnnotations(spec.btf!, 'helper_program').auxiliary, true);
  const plain = parseTestAnnotations(spec.btf!, 'plain');
  assert.deepEqual([plain.annotated, plain.privileged?.verdict, plain.description], [false, 'accept', 'plain'], 'no tags: a privileged success test named after the program');
  assert.throws(() => parseTestAnnotations(spec.btf!, 'no_such_program'), AnnotationError);
});

test('tag lists: modes, numeric flags and retvals, architectures, unknown values', () => {
  const a = annotationsFromTags(['comment:test_expect_failure_unpriv', 'comment:test_expect_msg_unpriv=3=R1 leaks addr', 'comment:test_prog_flags=0x8', 'comment:test_retval=0x10', 'comment:test_arch=ARM64'], 'p');
  assert.equal(a.privileged?.verdict, 'accept', 'the retval makes it a privileged test too');
  assert.equal(a.privileged?.retval, 16);
  assert.deepEqual([a.unprivileged?.verdict, a.unprivileged?.retval, a.unprivileged?.messages.map((m) => m.text)], ['reject', 16, ['R1 leaks addr']]);
  assert.equal(a.programFlags, DEFAULT_TEST_PROG_FLAGS | 8);
  assert.equal(annotationsFromTags(['comment:test_retval=0xfffffffe'], 'w').privileged?.retval, -2, 'a C int, as test_loader stores it');
  assert.deepEqual(a.arches, ['ARM64']);
  const unprivOnly = annotationsFromTags(['comment:test_auxiliary_unpriv'], 'q');
  assert.deepEqual([unprivOnly.privileged, unprivOnly.unprivileged?.verdict, unprivOnly.auxiliary], [undefined, 'accept', true]);
  assert.throws(() => annotationsFromTags(['comment:test_log_level=two'], 'r'), /program 'r': cannot read the log level from 'two'/);
  assert.throws(() => annotationsFromTags(['comment:test_prog_flags=BPF_F_NOPE'], 'r'), AnnotationError);
  assert.throws(() => annotationsFromTags(['comment:test_arch=MIPS'], 'r'), /unknown architecture 'MIPS'/);
  assert.throws(() => annotationsFromTags(['comment:test_expect_msg=1=a {{b'], 'r'), /open '\{\{' but no closing '\}\}'/);
});

test('expected messages match in order, as substrings or with {{regex}} parts', () => {
  const log = '0: R1=ctx() R10=fp0\n1: (b7) r0 = 0\nR0 invalid mem access \'scalar\'\nprocessed 2 insns (limit 1000000)';
  const msgs = (...texts: string[]) => texts.map(compileExpectedMessage);
  assert.equal(firstUnmatchedMessage(log, msgs('R1=ctx()', "invalid mem access 'scalar'")), -1);
  assert.equal(firstUnmatchedMessage(log, msgs("invalid mem access 'scalar'", 'R1=ctx()')), 1, 'order matters');
  assert.equal(firstUnmatchedMessage(log, msgs('{{[0-9]+}}: (b7) r0 = {{0|1}}')), -1);
  assert.equal(firstUnmatchedMessage(log, msgs('(b7) r0 = 0.')), 0, 'outside {{}} a dot is literal');
  assert.equal(firstUnmatchedMessage(log, msgs('{{^processed [0-9]+ insns}}')), -1, '^ anchors at a line start');
  assert.equal(firstUnmatchedMessage(log, msgs('{{r0 = 0.R0}}')), 0, 'a regex dot does not cross lines');
  assert.throws(() => compileExpectedMessage('{{(}}'), /not a valid regular expression/);
});

test('fuzz: random tags and patterns give annotations or AnnotationError, nothing else', () => {
  const seed = fuzzSeed(0xa11e);
  const rand = seededRandom(seed);
  const pieces = ['comment:test_', 'expect_msg=', 'expect_failure', 'expect_success', '_unpriv', 'log_level=', 'prog_flags=', '!', 'BPF_F_ANY_ALIGNMENT', 'retval=', 'auxiliary', 'arch=', 'X86_64', 'description=', '0x', '-', '7', '=', '{{', '}}', '(', '[', '*', '\\', 'INT_MIN', ' '];
  let ok = 0;
  for (let i = 0; i < 2000; i++) {
    const tags = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pieces[Math.floor(rand() * pieces.length)]).join(''));
    try {
      const a = annotationsFromTags(tags, 'fuzz');
      assert.ok(a.privileged !== undefined || a.unprivileged !== undefined);
      for (const m of [...(a.privileged?.messages ?? []), ...(a.unprivileged?.messages ?? [])]) firstUnmatchedMessage(tags.join('\n'), [m]);
      ok++;
    } catch (err) {
      if (!(err instanceof AnnotationError)) throw new Error(`case ${i} (seed ${seed}) ${JSON.stringify(tags)}: ${(err as Error).stack}`);
    }
  }
  assert.ok(ok > 500, `most random tag lists parse (${ok}/2000)`);
});
