import type { CollectionSpec } from '../../object/index.ts';
import { programTypeName } from '../../uapi/index.ts';
import { type VerifyResult, formatExplanation, loadTimeMaps, verify } from '../../verifier/index.ts';
import { type CliCommand, type CliIo, UsageError, onePositional, parseArguments } from '../command.ts';
import { loadProgramSource } from '../program-source.ts';

const usage = `usage: tsbpf verify FILE.o [--program NAME] [--log-level 0|1|2] [--json] [--unprivileged]
       tsbpf verify PROG.s --type SECTION [--log-level 0|1|2] [--json]

Checks each program the way the Linux kernel's verifier does, without
loading it: every path through the program, register and stack state,
memory bounds, helper arguments, references, loops and limits. Prints the
verdict, the verifier statistics, and for a rejection the kernel's message
with a plain-words explanation and the usual fix.

  --program NAME    only this program of the object
  --type SECTION    program type of an assembly source (xdp, tc, socket, tracepoint/CAT/NAME, ...)
  --log-level N     0: verdicts only; 1 (default on rejection): the failing path;
                    2: every instruction with its register state, as 'bpftool -d'
  --json            one JSON object per program: accepted, processedInsns,
                    verificationTimeUs, maxStatesPerInsn, totalStates, peakStates,
                    stackDepth, error {insnIndex, message, explanation}
  --unprivileged    apply the rules of an unprivileged load (no CAP_BPF)

Exit status: 0 when every program is accepted, 1 when one is rejected.
`;

interface Options {
  file?: string;
  program?: string;
  type?: string;
  logLevel?: 0 | 1 | 2;
  json: boolean;
  privileged: boolean;
}

function parseArgs(args: string[]): Options {
  const options: Omit<Options, 'file'> = { json: false, privileged: true };
  const positional = parseArguments(args, (arg, value) => {
    if (arg === '--program') options.program = value();
    else if (arg === '--type') options.type = value();
    else if (arg === '--log-level') {
      const level = value();
      if (level !== '0' && level !== '1' && level !== '2') throw new UsageError(`--log-level takes 0, 1 or 2, not '${level}'`);
      options.logLevel = Number(level) as 0 | 1 | 2;
    } else if (arg === '--json') options.json = true;
    else if (arg === '--unprivileged') options.privileged = false;
    else return false;
    return true;
  });
  return { ...options, file: onePositional(positional, 'missing FILE.o or PROG.s') };
}

function selectPrograms(spec: CollectionSpec, name: string | undefined, file: string): string[] {
  const names = Object.keys(spec.programs);
  if (name === undefined) {
    if (names.length === 0) throw new UsageError(`${file} has no programs`);
    return names;
  }
  if (!names.includes(name)) throw new UsageError(`no program '${name}' in ${file} (it has: ${names.join(', ')})`);
  return [name];
}

function textReport(name: string, section: string, result: VerifyResult, logLevel: number | undefined): string {
  const verdict = result.accepted ? 'accepted' : 'rejected';
  let out = `${name} (${section}): ${verdict}, ${result.processedInsns} insns processed, ${result.totalStates} states (peak ${result.peakStates}), stack ${result.stackDepth.join('+')} bytes, ${result.verificationTimeUs} us\n`;
  const showLog = logLevel === 2 || (!result.accepted && logLevel !== 0);
  if (showLog) out += result.log.replace(/^(?=.)/gm, '  ');
  if (result.error) out += `${formatExplanation(result.error.explanation).replace(/^/gm, '  ')}\n`;
  return out;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  const spec = await loadProgramSource(options.file!, options.type, undefined, io);
  let rejected = 0;
  // As a loader hands them to the kernel: .kconfig filled (LINUX_KERNEL_VERSION, CONFIG_*), so the verifier knows those constants.
  const maps = loadTimeMaps(spec);
  for (const name of selectPrograms(spec, options.program, options.file!)) {
    const program = spec.programs[name]!;
    if (program.type === 0) {
      throw new UsageError(`program '${name}' is in section '${program.section}', which names no program type; give the type with a known section name`);
    }
    const logLevel = options.logLevel ?? (options.json ? 0 : 1);
    const result = verify(program, { maps, logLevel, privileged: options.privileged });
    if (!result.accepted) rejected++;
    if (options.json) {
      io.stdout(`${JSON.stringify({ program: name, section: program.section, type: programTypeName(program.type), ...result, log: logLevel > 0 ? result.log : undefined })}\n`);
    } else {
      io.stdout(textReport(name, program.section, result, options.logLevel));
    }
  }
  return rejected > 0 ? 1 : 0;
}

export const command: CliCommand = {
  name: 'verify',
  summary: "check programs with tsbpf's verifier (the kernel's rules, log and messages) and explain rejections",
  usage,
  run,
};
