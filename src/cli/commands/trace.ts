import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { disassemble } from '../../isa/index.ts';
import { KernelSymbols } from '../../kernel/index.ts';
import { TraceError, compileScript, listProbes, runInKernel } from '../../trace/index.ts';
import { type CliCommand, type CliIo, UsageError, readInputFile, unknownOption } from '../command.ts';

const usage = `usage: tsbpf trace [options] (-e PROGRAM | FILE.bt) [ARGS...]
       tsbpf trace -l [PATTERN]

Compiles a bpftrace script to eBPF (no LLVM, no bpftrace), runs it in the
kernel and prints what bpftrace prints: printf output as events arrive,
every map at exit (Ctrl-C or exit()).

options:
  -e PROGRAM   the script text (otherwise read from FILE.bt, '-' for stdin)
  -l [PATTERN] list probes matching a wildcard pattern (-lv: with tracepoint fields)
  -c CMD       run CMD after attaching; stop when it exits
  -p PID       uprobes fire only in process PID
  -f json      print events and maps as bpftrace's JSON lines
  -o FILE      write the output to FILE
  -d           print the generated eBPF of each program and exit
  -v           print verifier statistics of each program
  --unsafe     allow system() and signal()
  ARGS         the script's $1, $2... ($# is their count)
  -- --NAME[=VALUE]  a named argument the script reads with getopt("NAME", default)
`;

interface TraceArgs {
  program?: string;
  file?: string;
  list?: string | true;
  command?: string;
  pid?: number;
  format: 'text' | 'json';
  output?: string;
  dump: boolean;
  verbose: boolean;
  unsafe: boolean;
  positional: string[];
  namedArgs: Record<string, string>;
}

function parseArgs(args: string[]): TraceArgs {
  const out: TraceArgs = { format: 'text', dump: false, verbose: false, unsafe: false, positional: [], namedArgs: {} };
  const value = (i: number, option: string): string => {
    const v = args[i + 1];
    if (v === undefined) throw new UsageError(`${option} needs a value`);
    return v;
  };
  let optionsEnded = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    // As getopt: options may follow the program; words are the script file, then its arguments; `--` ends the options.
    const named = optionsEnded ? /^--([A-Za-z_][\w-]*)(?:=(.*))?$/s.exec(arg) : null;
    if (named !== null) {
      out.namedArgs[named[1]!] = named[2] ?? '';
      continue;
    }
    if (optionsEnded || !arg.startsWith('-') || arg === '-') {
      if (out.program === undefined && out.file === undefined) out.file = arg;
      else out.positional.push(arg);
      continue;
    }
    if (arg === '--') {
      optionsEnded = true;
      continue;
    }
    switch (arg) {
      case '-e':
        out.program = value(i++, arg);
        break;
      case '-l':
      case '-lv':
        out.list = args[i + 1] !== undefined && !args[i + 1]!.startsWith('-') ? args[++i]! : true;
        if (arg === '-lv') out.verbose = true;
        break;
      case '-c':
        out.command = value(i++, arg);
        break;
      case '-p': {
        const pid = Number(value(i++, arg));
        if (!Number.isInteger(pid) || pid < 1) throw new UsageError(`-p needs a process id, got '${args[i]}'`);
        out.pid = pid;
        break;
      }
      case '-f': {
        const format = value(i++, arg);
        if (format !== 'json' && format !== 'text') throw new UsageError(`-f takes json or text, got '${format}'`);
        out.format = format;
        break;
      }
      case '-o':
        out.output = value(i++, arg);
        break;
      case '-d':
        out.dump = true;
        break;
      case '-v':
        out.verbose = true;
        break;
      case '--unsafe':
        out.unsafe = true;
        break;
      default:
        throw unknownOption(arg);
    }
  }
  return out;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  if (options.list !== undefined) {
    io.stdout(listProbes(options.list === true ? undefined : options.list, options.verbose));
    return 0;
  }
  if (options.program === undefined && options.file === undefined) throw new UsageError('give a program with -e or a script file');
  const source = options.program ?? new TextDecoder().decode(await readInputFile(options.file!, io));
  // Read /proc/kallsyms only if the script names a kernel symbol (kaddr) or prints kernel addresses.
  let kernelSymbols: KernelSymbols | undefined;
  const kernelSymbol = (name: string): bigint | undefined => {
    try {
      kernelSymbols ??= new KernelSymbols();
    } catch {
      return undefined;
    }
    return kernelSymbols.address(name);
  };
  let compiled;
  try {
    compiled = compileScript(source, {
      positional: options.positional,
      namedArgs: options.namedArgs,
      startNs: process.hrtime.bigint(),
      unsafe: options.unsafe,
      file: options.file ?? 'stdin',
      kernelSymbol,
      ...(process.env.BPFTRACE_MAX_PROBES !== undefined ? { maxProbes: maxProbesFromEnvironment(process.env.BPFTRACE_MAX_PROBES) } : {}),
    });
  } catch (error) {
    if (error instanceof TraceError) {
      io.stderr(error.format());
      return 1;
    }
    throw error;
  }
  for (const warning of compiled.warnings) io.stderr(warning.format('WARNING'));
  // As bpftrace: a process to trace must exist, and a command to run must be found, before anything is loaded.
  const targetProblem = (options.pid !== undefined ? pidProblem(options.pid) : undefined) ?? (options.command !== undefined ? commandProblem(options.command) : undefined);
  if (targetProblem !== undefined && !options.dump) {
    io.stderr(`ERROR: ${targetProblem}\n`);
    return 1;
  }
  if (options.dump) {
    for (const [name, program] of Object.entries(compiled.spec.programs)) {
      const probes = compiled.probes.filter((p) => p.program === name);
      io.stdout(`${name} (${probes.length === 1 ? probes[0]!.target.name : `${probes.length} probes: ${probes[0]!.target.name}, ...`}):\n${disassemble(program.instructions)}\n`);
    }
    return 0;
  }
  let written = '';
  const write = options.output !== undefined ? (text: string): void => void (written += text) : io.stdout;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const session = await runInKernel(compiled, {
      write,
      format: options.format,
      signal: controller.signal,
      ...(kernelSymbols !== undefined ? { kernelSymbols } : {}),
      ...(options.pid !== undefined ? { pid: options.pid } : {}),
      ...(options.verbose ? { verbose: write } : {}),
      ...(options.command !== undefined ? { startCommand: () => runCommand(options.command!) } : {}),
    });
    void session;
  } catch (error) {
    if (!(error instanceof TraceError)) throw error;
    io.stderr(error.format());
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (options.output !== undefined) writeFileSync(options.output, written);
  }
  return 0;
}

/** BPFTRACE_MAX_PROBES, bpftrace's variable for the attach point limit. */
function maxProbesFromEnvironment(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`BPFTRACE_MAX_PROBES must be a positive integer, got '${value}'`);
  return limit;
}

/** bpftrace's largest pid (PID_MAX_LIMIT on 64-bit kernels). */
const PID_LIMIT = 4194304;

/** Why -p PID cannot be traced, or undefined. */
function pidProblem(pid: number): string | undefined {
  if (pid > PID_LIMIT) return `pid '${pid}' out of valid pid range [1,${PID_LIMIT}]`;
  if (!existsSync(`/proc/${pid}`)) return `pid '${pid}': no such process`;
  return undefined;
}

/** Why -c CMD cannot be run (its program is not an executable file, by path or on $PATH), or undefined. */
function commandProblem(command: string): string | undefined {
  const program = command.trim().split(/\s+/)[0] ?? '';
  const executable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  const found = program.includes('/') ? executable(program) : (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, program)));
  return found ? undefined : `Failed to fork child: path '${program}' does not exist or is not executable`;
}

/** -c: the command through the shell, sharing our terminal; resolves when it exits. */
function runCommand(command: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(127));
  });
}

export const command: CliCommand = { name: 'trace', summary: 'compile and run a bpftrace script (the bpftrace language, no LLVM): printf, maps, histograms', usage, run };
