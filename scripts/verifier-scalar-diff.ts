/**
 * Differential run of the verifier's scalar tracking against the running
 * kernel: random scalar programs (test/verifier/support/scalar-programs.ts)
 * are loaded with a level-2 log and each printed register state is compared
 * with src/verifier/scalar.ts's prediction. Needs root and bpf().
 *
 *   node --import tsx scripts/verifier-scalar-diff.ts [programs=200] [length=40] [seed=1]
 */
import { KernelProgram } from '../src/kernel/program.ts';
import { BpfSyscallError } from '../src/kernel/errors.ts';
import { ProgramType } from '../src/uapi/enums.ts';
import { seededRandom } from '../test/support/random.ts';
import { type Disagreement, compareWithLog, generateProgram } from '../test/verifier/support/scalar-programs.ts';

const programs = Number(process.argv[2] ?? 200);
const length = Number(process.argv[3] ?? 40);
const seed = Number(process.argv[4] ?? 1);
const rand = seededRandom(seed);
let agreed = 0;
let rejected = 0;
const byClass = new Map<string, { count: number; example: Disagreement; context: string }>();
let total = 0;
for (let i = 0; i < programs; i++) {
  const program = generateProgram(rand, length);
  let log: string;
  try {
    const loaded = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: program.instructions, license: 'GPL', logLevel: 2, logSize: 1 << 22 });
    log = loaded.verifierLog;
    loaded.close();
  } catch (error) {
    if (!(error instanceof BpfSyscallError)) throw error;
    rejected++;
    log = error.log ?? '';
    console.log(`program ${i} rejected: ${error.message.split('\n')[0]}`);
  }
  const result = compareWithLog(program, log);
  agreed += result.agreed;
  total += result.agreed + result.disagreements.length;
  for (const d of result.disagreements) {
    const key = d.text.replace(/-?\d+/g, 'N').replace(/[rw]N/g, 'rX');
    const entry = byClass.get(key);
    if (entry) entry.count++;
    else {
      const slot = Number(/\d+/.exec(d.where)?.[0]);
      const lines = log.split('\n').filter((l) => /^\d+: \(/.test(l));
      const index = lines.findIndex((l) => l.startsWith(`${slot}: (`));
      byClass.set(key, { count: 1, example: d, context: lines.slice(Math.max(0, index - 4), index + 1).join('\n      ') });
    }
  }
}
console.log(`${agreed}/${total} checks agree (${programs} programs of ${length} operations, seed ${seed}, ${rejected} rejected)`);
for (const [key, { count, example, context }] of [...byClass].sort((a, b) => b[1].count - a[1].count)) {
  console.log(`${count}x ${key}\n   e.g. ${example.text} @${example.where}\n   expected ${example.expected}\n   kernel   ${example.actual}${process.env.VERBOSE ? `\n      ${context}` : ''}`);
}
