/**
 * The kernel selftests' expectations, read as tools/testing/selftests/bpf/
 * test_loader.c reads them: BTF decl tags on a program's FUNC, written by
 * bpf_misc.h's `__success`, `__failure`, `__msg("...")`, `__log_level(N)`,
 * `__flag(BPF_F_...)`, `__retval(N)`, `__description("...")`,
 * `__auxiliary` and their `_unpriv` twins.
 */
import type { Btf } from '../../../src/btf/index.ts';
import { TsbpfError } from '../../../src/errors.ts';

export class AnnotationError extends TsbpfError {
  override name = 'AnnotationError';
}

/** One `__msg()`: a substring, or a POSIX ERE when the text has `{{...}}` parts (compile_regex in test_loader.c). */
export interface ExpectedMessage {
  text: string;
  regex?: RegExp;
}

/** What a test expects in one mode (privileged, or with CAP_BPF & co dropped). */
export interface ModeExpectation {
  verdict: 'accept' | 'reject';
  messages: ExpectedMessage[];
  /** `__retval()`: the test also runs the program and expects this return value. */
  retval?: number;
}

export interface TestAnnotations {
  /** `__description()`, or the program name as test_loader uses it. */
  description: string;
  /** Modes the test runs in: test_loader's mode_mask (PRIV when nothing says otherwise). */
  privileged?: ModeExpectation;
  unprivileged?: ModeExpectation;
  /** `__log_level()` (BPF_LOG_LEVEL1 = 1, LEVEL2 = 2, STATS = 4), 0 when absent. */
  logLevel: number;
  /** BPF_PROG_LOAD prog_flags: test_loader's defaults adjusted by `__flag()`. */
  programFlags: number;
  /** `__auxiliary`: loaded alongside the tested programs (tail call targets...), not a test itself. */
  auxiliary: boolean;
  /** `__arch_*` restrictions ('X86_64', 'ARM64', 'RISCV64'); empty means any. */
  arches: string[];
  /** `__btf_path()`: a custom BTF for CO-RE, which this corpus does not build. */
  btfPath?: string;
  /** Whether any comment:test_* tag was present at all (objects not written for test_loader have none). */
  annotated: boolean;
}

/** BPF_F_* prog_flags test_loader knows by name (include/uapi/linux/bpf.h). */
export const PROG_FLAGS: Readonly<Record<string, number>> = {
  BPF_F_STRICT_ALIGNMENT: 1 << 0,
  BPF_F_ANY_ALIGNMENT: 1 << 1,
  BPF_F_TEST_RND_HI32: 1 << 2,
  BPF_F_TEST_STATE_FREQ: 1 << 3,
  BPF_F_SLEEPABLE: 1 << 4,
  BPF_F_XDP_HAS_FRAGS: 1 << 5,
  BPF_F_TEST_REG_INVARIANTS: 1 << 7,
};

/**
 * testing_prog_flags() of testing_helpers.c: every test loads with
 * BPF_F_TEST_RND_HI32 and BPF_F_TEST_REG_INVARIANTS when the kernel has them
 * (6.12 and later do).
 */
export const DEFAULT_TEST_PROG_FLAGS = PROG_FLAGS.BPF_F_TEST_RND_HI32! | PROG_FLAGS.BPF_F_TEST_REG_INVARIANTS!;

/** Named `__retval()` values (parse_retval in test_loader.c). */
const NAMED_RETVALS: Readonly<Record<string, number>> = { INT_MIN: -2147483648, POINTER_VALUE: 0xcafe4a11, TEST_DATA_LEN: 64 };

const TAG = 'comment:test_';

/** strtol as parse_int uses it: decimal, or hex after 0x; the whole string must be the number. */
function parseInteger(text: string, what: string, program: string): number {
  const match = /^([+-]?)(?:0x([0-9a-fA-F]+)|([0-9]+))$/.exec(text);
  if (match === null) throw new AnnotationError(`program '${program}': cannot read ${what} from '${text}'`);
  const magnitude = match[2] !== undefined ? parseInt(match[2], 16) : parseInt(match[3]!, 10);
  return match[1] === '-' ? -magnitude : magnitude;
}

/** test_loader's compile_regex: `{{...}}` parts are regular expressions, everything else is literal. */
export function compileExpectedMessage(pattern: string): ExpectedMessage {
  if (!pattern.includes('{{')) return { text: pattern };
  let source = '';
  let rest = pattern;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      source += escapeLiteral(rest);
      break;
    }
    source += escapeLiteral(rest.slice(0, open));
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw new AnnotationError(`message '${pattern}' has an open '{{' but no closing '}}'`);
    source += rest.slice(open + 2, close);
    rest = rest.slice(close + 2);
  }
  try {
    // REG_NEWLINE: '.' and bracket negations do not match a newline, ^ and $ match at lines.
    return { text: pattern, regex: new RegExp(source, 'm') };
  } catch (err) {
    throw new AnnotationError(`message '${pattern}' is not a valid regular expression: ${(err as Error).message}`);
  }
}

const escapeLiteral = (text: string): string => text.replace(/[.[\]\\()*+?{}|^$]/g, '\\$&');

/**
 * validate_msgs of test_loader.c: each expected message must appear in the
 * log after the previous one's match. Returns the index of the first message
 * not found, or -1 when all are.
 */
export function firstUnmatchedMessage(log: string, messages: readonly ExpectedMessage[]): number {
  let rest = log;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (message.regex === undefined) {
      const at = rest.indexOf(message.text);
      if (at < 0) return i;
      rest = rest.slice(at + message.text.length);
    } else {
      const match = message.regex.exec(rest);
      if (match === null) return i;
      rest = rest.slice(match.index + match[0].length);
    }
  }
  return -1;
}

/** `PFX<counter>=text` (bpf_misc.h prefixes __msg with __COUNTER__) → text, as skip_dynamic_pfx. */
function dynamicSuffix(tag: string, prefix: string): string | undefined {
  if (!tag.startsWith(prefix)) return undefined;
  const eq = tag.indexOf('=', prefix.length);
  return eq < 0 ? undefined : tag.slice(eq + 1);
}

/**
 * The annotations of program `programName` (its FUNC's name) in `btf`, in
 * the order test_loader sees them (BTF type order).
 */
export function parseTestAnnotations(btf: Btf, programName: string): TestAnnotations {
  const func = btf.findByName(programName, 'func')[0];
  if (func === undefined) throw new AnnotationError(`program '${programName}' has no BTF FUNC to carry annotations`);
  const tags: string[] = [];
  for (const t of btf.types) {
    if (t.kind === 'decl_tag' && t.type === func.id && t.componentIdx === -1 && t.name.startsWith(TAG)) tags.push(t.name);
  }
  return annotationsFromTags(tags, programName);
}

/** The annotations a list of decl tag strings (in BTF order) makes. Exported for tests. */
export function annotationsFromTags(tags: readonly string[], programName: string): TestAnnotations {
  const out: TestAnnotations = { description: programName, logLevel: 0, programFlags: DEFAULT_TEST_PROG_FLAGS, auxiliary: false, arches: [], annotated: tags.length > 0 };
  const priv: ModeExpectation = { verdict: 'accept', messages: [] };
  const unpriv: ModeExpectation = { verdict: 'accept', messages: [] };
  let privMode = false;
  let unprivMode = false;
  let unprivVerdictGiven = false;
  let unprivRetvalGiven = false;
  for (const tag of tags) {
    let value: string | undefined;
    if ((value = prefixed(tag, 'comment:test_description=')) !== undefined) {
      out.description = value;
    } else if (tag === 'comment:test_expect_failure' || tag === 'comment:test_expect_success') {
      priv.verdict = tag.endsWith('failure') ? 'reject' : 'accept';
      privMode = true;
    } else if (tag === 'comment:test_expect_failure_unpriv' || tag === 'comment:test_expect_success_unpriv') {
      unpriv.verdict = tag.endsWith('failure_unpriv') ? 'reject' : 'accept';
      unprivMode = true;
      unprivVerdictGiven = true;
    } else if (tag === 'comment:test_auxiliary') {
      out.auxiliary = true;
      privMode = true;
    } else if (tag === 'comment:test_auxiliary_unpriv') {
      out.auxiliary = true;
      unprivMode = true;
    } else if ((value = dynamicSuffix(tag, 'comment:test_expect_msg_unpriv=')) !== undefined) {
      unpriv.messages.push(compileExpectedMessage(value));
    } else if ((value = dynamicSuffix(tag, 'comment:test_expect_msg=')) !== undefined) {
      priv.messages.push(compileExpectedMessage(value));
      privMode = true;
    } else if ((value = prefixed(tag, 'comment:test_retval_unpriv=')) !== undefined) {
      unpriv.retval = parseRetval(value, programName);
      unprivMode = true;
      unprivRetvalGiven = true;
    } else if ((value = prefixed(tag, 'comment:test_retval=')) !== undefined) {
      priv.retval = parseRetval(value, programName);
      privMode = true;
    } else if ((value = prefixed(tag, 'comment:test_log_level=')) !== undefined) {
      out.logLevel = parseInteger(value, 'the log level', programName);
    } else if ((value = prefixed(tag, 'comment:test_prog_flags=')) !== undefined) {
      const clear = value.startsWith('!');
      const name = clear ? value.slice(1) : value;
      const flag = PROG_FLAGS[name] ?? parseInteger(name, 'prog flags', programName);
      out.programFlags = clear ? out.programFlags & ~flag : out.programFlags | flag;
    } else if ((value = prefixed(tag, 'comment:test_arch=')) !== undefined) {
      if (!['X86_64', 'ARM64', 'RISCV64'].includes(value)) throw new AnnotationError(`program '${programName}': unknown architecture '${value}'`);
      out.arches.push(value);
    } else if ((value = prefixed(tag, 'comment:test_btf_path=')) !== undefined) {
      out.btfPath = value;
    }
    // __xlated/__jited check the rewritten or JIT-compiled program, not the verdict: not recorded.
  }
  if (!privMode && !unprivMode) privMode = true;
  if (!unprivVerdictGiven) unpriv.verdict = priv.verdict;
  if (!unprivRetvalGiven && priv.retval !== undefined) unpriv.retval = priv.retval;
  if (unpriv.messages.length === 0) unpriv.messages.push(...priv.messages);
  if (privMode) out.privileged = priv;
  if (unprivMode) out.unprivileged = unpriv;
  return out;
}

function prefixed(tag: string, prefix: string): string | undefined {
  return tag.startsWith(prefix) ? tag.slice(prefix.length) : undefined;
}

/** test_loader stores __retval() in a C int: larger values wrap to 32 bits. */
function parseRetval(text: string, program: string): number {
  return (NAMED_RETVALS[text] ?? parseInteger(text, 'the expected return value', program)) | 0;
}

/** `__retval(POINTER_VALUE)`: the program returns a pointer, any value passes (test_loader.c). */
export const POINTER_RETVAL = NAMED_RETVALS.POINTER_VALUE! | 0;
