import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './env.ts';

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsbpf ARGS` from the TypeScript sources as a separate process, as a user's shell would. */
export function spawnTsbpf(args: string[], stdin: string | Uint8Array = ''): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Runs command `name` in this process (its module's run) and returns what it printed; it must exit 0. */
export async function runCommand(name: string, args: string[]): Promise<string> {
  const { command } = (await import(`../../src/cli/commands/${name}.ts`)) as { command: import('../../src/cli/command.ts').CliCommand };
  let out = '';
  const code = await command.run(args, { stdout: (t) => (out += t), stderr: (t) => (out += t), stdin: async () => new Uint8Array() });
  if (code !== 0) throw new Error(`tsbpf ${name} ${args.join(' ')} exited ${code}: ${out}`);
  return out;
}
