import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exit, mov64Reg } from '../../src/isa/index.ts';
import { loadCollection } from '../../src/kernel/index.ts';
import { TraceError, compileScript, runInKernel } from '../../src/trace/index.ts';
import { verify } from '../../src/verifier/index.ts';
import { ROOT, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { TEST_SCRIPTS, debianTools } from './support.ts';

checkNoKernelLeaks();

/** The scripts of the trace tests, the golden fixtures and the tools of Debian's bpftrace package. */
function corpus(): [string, string][] {
  const fixtures = join(ROOT, 'test', 'trace', 'fixtures');
  return [
    ...TEST_SCRIPTS.map((source): [string, string] => [source, source]),
    ...readdirSync(fixtures).filter((f) => f.endsWith('.bt')).map((f): [string, string] => [f, readFileSync(join(fixtures, f), 'utf8')]),
    ...debianTools().map(([name, path]): [string, string] => [name, readFileSync(path, 'utf8')]),
  ];
}

describe('every generated program: tsbpf\'s verifier agrees with the kernel', { skip: skipWithoutKernel() }, () => {
  it('the corpus compiles and each program is accepted by both', () => {
    const disagreements: string[] = [];
    let programs = 0;
    let scripts = 0;
    for (const [name, source] of corpus()) {
      let compiled;
      try {
        compiled = compileScript(source, { file: name, unsafe: true, positional: ['1'] });
      } catch (error) {
        // Scripts that do not compile here are the tools test's business (test/trace/tools.test.ts).
        if (error instanceof TraceError) continue;
        throw error;
      }
      scripts++;
      const ours: Record<string, string> = {};
      for (const [program, spec] of Object.entries(compiled.spec.programs)) {
        const result = verify(spec, { maps: compiled.spec.maps, logLevel: 1 });
        ours[program] = result.accepted ? 'accepted' : `rejected at insn ${result.error!.insnIndex}: ${result.error!.message.split('\n').at(-1)}`;
        programs++;
      }
      let kernel = 'accepted';
      try {
        loadCollection(compiled.spec).close();
      } catch (error) {
        kernel = `rejected: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      }
      for (const [program, verdict] of Object.entries(ours)) {
        if ((verdict === 'accepted') !== (kernel === 'accepted')) disagreements.push(`${name} ${program}: tsbpf ${verdict}, kernel ${kernel}`);
      }
    }
    assert.deepEqual(disagreements, []);
    assert.ok(scripts >= TEST_SCRIPTS.length + 20 && programs > scripts, `${scripts} scripts, ${programs} programs`);
  });

  it('runInKernel refuses a program tsbpf\'s verifier rejects before the kernel sees it', async () => {
    const compiled = compileScript('BEGIN { @x = 1; }');
    const program = Object.values(compiled.spec.programs)[0]!;
    // Reading r2 before anything writes it: the kernel's "R2 !read_ok".
    program.instructions = [mov64Reg(0, 2), exit()];
    await assert.rejects(runInKernel(compiled, { write: () => {}, format: 'text' }), (error: unknown) => error instanceof TraceError && error.format() === "stdin:1:1-8: ERROR: tsbpf's verifier refused the code generated here (program probe_0, insn 0): R2 !read_ok\nBEGIN { @x = 1; }\n~~~~~~~\n");
  });

  it('a refusal names the script line the refused instruction was generated from', async () => {
    const source = 'BEGIN {\n  @x = 1;\n  @y = 2;\n}';
    const compiled = compileScript(source);
    const program = Object.values(compiled.spec.programs)[0]!;
    const secondStatement = compiled.positions.probe_0!.find((p) => p.span.line === 3)!.insnIndex;
    // R7 is never written by this probe: reading it is the kernel's "R7 !read_ok".
    program.instructions[secondStatement] = mov64Reg(0, 7);
    await assert.rejects(runInKernel(compiled, { write: () => {}, format: 'text' }), (error: unknown) => {
      assert.ok(error instanceof TraceError);
      assert.equal(error.format(), `stdin:3:3-9: ERROR: tsbpf's verifier refused the code generated here (program probe_0, insn ${secondStatement}): R7 !read_ok\n  @y = 2;\n  ~~~~~~\n`);
      return true;
    });
  });

  it('a kernel refusal (tsbpf\'s verifier turned off) names the script line too, from the kernel log\'s instruction', async () => {
    const compiled = compileScript('BEGIN {\n  @x = 1;\n  @y = 2;\n}');
    const secondStatement = compiled.positions.probe_0!.find((p) => p.span.line === 3)!.insnIndex;
    compiled.spec.programs.probe_0!.instructions[secondStatement] = mov64Reg(0, 7);
    await assert.rejects(runInKernel(compiled, { write: () => {}, format: 'text', verify: false }), (error: unknown) => {
      assert.ok(error instanceof TraceError);
      assert.equal(error.format(), `stdin:3:3-9: ERROR: the kernel's verifier refused the code generated here (program probe_0, insn ${secondStatement}): R7 !read_ok\n  @y = 2;\n  ~~~~~~\n`);
      return true;
    });
  });
});
