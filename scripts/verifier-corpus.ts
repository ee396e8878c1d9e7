/**
 * Builds the verifier's reference corpus under .cache/verifier-corpus (see
 * docs/verifier-corpus.md): downloads Debian's linux-source-6.12 and the
 * packages that ship BPF objects when they are not cached, compiles the
 * verifier selftests and samples/bpf, loads every program into the running
 * kernel and writes one JSON record per program. Needs root, clang-19 and
 * libbpf-dev.
 *
 *   node --import tsx scripts/verifier-corpus.ts [--source selftests,samples,debian]
 *        [--file verifier_and.c]... [--cpu v3,v4] [--cache DIR] [--clean] [--jobs N]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_SOURCES, type CorpusSource, DEFAULT_CORPUS_DIR, buildVerifierCorpus } from '../test/support/verifier-corpus/index.ts';

interface Args {
  sources: CorpusSource[];
  files: string[];
  cpus: ('v3' | 'v4')[];
  cacheDir: string;
  clean: boolean;
  jobs?: number;
}

function usage(problem: string): never {
  process.stderr.write(`verifier-corpus: ${problem}\nusage: node --import tsx scripts/verifier-corpus.ts [--source selftests,samples,debian] [--file verifier_X.c]... [--cpu v3,v4] [--cache DIR] [--clean] [--jobs N]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { sources: [...CORPUS_SOURCES], files: [], cpus: ['v3', 'v4'], cacheDir: DEFAULT_CORPUS_DIR, clean: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`);
    if (arg === '--source') {
      args.sources = value().split(',').map((s) => (CORPUS_SOURCES.includes(s as CorpusSource) ? (s as CorpusSource) : usage(`unknown source '${s}' (${CORPUS_SOURCES.join(', ')})`)));
    } else if (arg === '--file') {
      args.files.push(value());
    } else if (arg === '--cpu') {
      args.cpus = value().split(',').map((c) => (c === 'v3' || c === 'v4' ? c : usage(`--cpu takes v3 and/or v4, not '${c}'`)));
    } else if (arg === '--cache') {
      args.cacheDir = value();
    } else if (arg === '--clean') {
      args.clean = true;
    } else if (arg === '--jobs') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) usage('--jobs takes a positive integer');
      args.jobs = n;
    } else {
      usage(`unknown argument '${arg}'`);
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args.clean) {
  // Objects, logs and records only: the downloaded packages and the extracted tree stay.
  for (const sub of ['build', 'logs', 'include', 'samples-shim']) rmSync(join(args.cacheDir, sub), { recursive: true, force: true });
}
const started = Date.now();
const build = await buildVerifierCorpus({
  cacheDir: args.cacheDir,
  sources: args.sources,
  selftestCpus: args.cpus,
  ...(args.files.length > 0 ? { selftestFiles: args.files } : {}),
  ...(args.jobs !== undefined ? { parallel: args.jobs } : {}),
  progress: (line) => process.stderr.write(`${line}\n`),
});
const rows = Object.entries(build.summary).map(([source, s]) => ({
  source,
  files: s.files,
  compiled: s.compiled,
  read: s.read,
  programs: s.programs,
  loaded: s.loaded,
  accepted: s.accepted,
  rejected: s.rejected,
  'not loadable': s.notLoadable,
  agreement: s.compared !== undefined ? `${s.agreeing}/${s.compared}` : '',
  'messages matched': s.withMessages !== undefined ? `${s.messagesMatched}/${s.withMessages}` : '',
  'retvals matched': s.withRetval !== undefined ? `${s.retvalMatched}/${s.withRetval}` : '',
}));
console.table(rows);
const disagreements = build.records.filter((r) => r.agrees === false);
if (disagreements.length > 0) {
  console.log(`\nkernel verdict differs from the annotation (${disagreements.length}):`);
  for (const r of disagreements) console.log(`  ${r.file} ${r.program}: expected ${r.expected!.verdict}, kernel ${r.kernel.verdict}${r.kernel.message ? ` (${r.kernel.message})` : ''}`);
}
const unreadable = build.files.filter((f) => f.compiled && !f.read);
if (unreadable.length > 0) {
  console.log(`\nobjects loadCollectionSpec does not read (${unreadable.length}):`);
  for (const f of unreadable) console.log(`  ${f.file}: ${f.error}`);
}
console.log(`\nrecords in ${args.cacheDir} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
