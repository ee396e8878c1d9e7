// `tsbpf gen types`: bindings generated for a fixture compile under strict
// tsc together with code using them (and wrong uses are type errors), then
// run against the kernel and the VM.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { generateTypes, GenerateError } from '../../src/gen/index.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { TsbpfError } from '../../src/errors.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { compileBpf } from '../support/clang.ts';
import { spawnTsbpf } from '../support/cli.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';

checkNoKernelLeaks();
const clang = { skip: skipWithoutClang() };
const kernel = { skip: skipWithoutClang() || skipWithoutKernel() };
// Per process: engineers and CI jobs running this file at once must not overwrite each other's bindings.
const DIR = mkdtempSync(join(tmpdir(), 'library-gen-test-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
const object = (): string => compileBpf(join(ROOT, 'test/backend/fixtures/events.c'));

/** What the README's execsnoop does, typed end to end; the @ts-expect-error lines must be errors for tsc to pass. */
const USAGE = `import { type Event, type EventsObjects, type Kind, loadEvents } from './events.ts';

export interface Outcome {
  events: Event[];
  seq: number;
  calls: bigint;
  ppidCalls: bigint;
  rodataAfterLoad: string;
}

export async function exercise(backend: 'kernel' | 'vm', cpus: number): Promise<Outcome> {
  const objs: EventsObjects = await loadEvents({ backend, loadOptions: backend === 'vm' ? { cpus } : {} });
  try {
    objs.rodata.stamp = 42n;
    objs.data.use_long = 0;
    // @ts-expect-error .rodata's stamp is a u64: bigint
    objs.rodata.stamp = 42;
    for (let i = 0; i < 3; i++) objs.programs.record.run({ data: new Uint8Array(64) });
    const events: Event[] = [];
    for await (const e of objs.ringbufs.events) {
      const name: string = e.filename;
      const kind: Kind = e.kind;
      // @ts-expect-error filename is a char array: a string
      const wrong: number = e.filename;
      void [name, kind, wrong];
      events.push(e);
      if (events.length === 3) break;
    }
    const perCpu: bigint[] = objs.maps.calls.get(0)!;
    // @ts-expect-error per-CPU values are arrays
    const single: bigint = objs.maps.calls.get(0)!;
    void single;
    let rodataAfterLoad = '';
    try {
      objs.rodata.stamp = 7n;
    } catch (error) {
      rodataAfterLoad = (error as Error).name;
    }
    let ppidCalls = 0n;
    if (backend === 'kernel') {
      objs.bss.target_tgid = process.pid;
      const links = objs.attach();
      void process.ppid;
      void process.ppid;
      links.close();
      ppidCalls = objs.bss.ppid_calls;
    }
    return { events, seq: objs.bss.seq, calls: perCpu.reduce((a, b) => a + b, 0n), ppidCalls, rodataAfterLoad };
  } finally {
    objs.close();
  }
}
`;

let generated: Promise<void> | undefined;
/** Generates the bindings with the CLI and type-checks them with the usage code under the project's strict tsconfig (once). */
function generateAndCompile(): Promise<void> {
  generated ??= (async () => {
    mkdirSync(DIR, { recursive: true });
    const result = await spawnTsbpf(['gen', 'types', object(), '-o', join(DIR, 'events.ts'), '--name', 'events', '--import-from', relative(DIR, join(ROOT, 'src'))]);
    assert.equal(result.code, 0, result.stderr);
    writeFileSync(join(DIR, 'usage.ts'), USAGE);
    writeFileSync(join(DIR, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(DIR, 'tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { rootDir: '/', typeRoots: [join(ROOT, 'node_modules/@types')] }, include: [], files: ['events.ts', 'usage.ts'] }));
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(DIR, 'tsconfig.json')], { stdio: 'pipe' });
  })();
  return generated;
}

test('gen types: interfaces from BTF (struct, enum union, char[] string, u64 bigint), per-CPU maps, records found from the reserve size', clang, () => {
  const path = object();
  const text = generateTypes(loadCollectionSpec(path), { name: 'events', object: new Uint8Array(readFileSync(path)) });
  assert.match(text, /export type Kind = "KIND_SHORT" \| "KIND_LONG" \| number;/);
  assert.match(text, /export interface Event \{\n {2}seq: number;\n {2}kind: Kind;\n {2}filename: string;\n {2}stamp: bigint;\n\}/);
  assert.match(text, /readonly calls: PerCpuTypedMap<number, bigint>;/);
  assert.match(text, /readonly events: EventStream<Event>;/);
  assert.match(text, /export interface EventsRodata \{\n {2}stamp: bigint;\n\}/);
  assert.match(text, /SEC\("tracepoint\/syscalls\/sys_enter_getppid"\): attaches to syscalls\/sys_enter_getppid \*\/\n {2}readonly on_getppid: BpfProgram;/);
  assert.match(text, /from 'tsbpf\/gen';/);
  assert.throws(() => generateTypes(loadCollectionSpec(path), { name: 'x', object: new Uint8Array(), records: { events: 'nope' } }), (e) => e instanceof GenerateError && /record type 'nope' for map 'events'/.test(e.message));
});

test('gen types: the bindings and code using them compile under strict tsc, wrong uses do not', clang, async () => {
  await generateAndCompile();
  // The same file with an @ts-expect-error removed must fail: the types are really checked.
  writeFileSync(join(DIR, 'usage.ts'), USAGE.replace('    // @ts-expect-error filename is a char array: a string\n', ''));
  assert.throws(() => execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(DIR, 'tsconfig.json')], { stdio: 'pipe' }), (e: { stdout: Buffer }) => /usage\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/.test(e.stdout.toString()));
  writeFileSync(join(DIR, 'usage.ts'), USAGE);
});

test('gen types: the generated loader runs on the kernel and in the VM', kernel, async () => {
  await generateAndCompile();
  const { exercise } = (await import(join(DIR, 'usage.ts'))) as { exercise: (backend: 'kernel' | 'vm', cpus: number) => Promise<{ events: Array<{ filename: string; kind: string; stamp: bigint; seq: number }>; seq: number; calls: bigint; ppidCalls: bigint; rodataAfterLoad: string }> };
  const { possibleCpus } = await import('../../src/kernel/map.ts');
  for (const backend of ['kernel', 'vm'] as const) {
    const outcome = await exercise(backend, possibleCpus());
    assert.deepEqual(outcome.events, [1, 2, 3].map((seq) => ({ seq, kind: 'KIND_SHORT', filename: '/bin/sh', stamp: 42n })), backend);
    assert.equal(outcome.seq, 3);
    assert.equal(outcome.calls, 3n);
    assert.equal(outcome.rodataAfterLoad, backend === 'kernel' ? 'BpfSyscallError' : 'MapError');
    assert.equal(outcome.ppidCalls, backend === 'kernel' ? 2n : 0n);
  }
});

test('fuzz: bindings for mutated objects are generated or refused with a TsbpfError', clang, () => {
  const original = new Uint8Array(readFileSync(object()));
  const random = seededRandom(fuzzSeed(31));
  let generated = 0;
  for (let i = 0; i < 300; i++) {
    const bytes = original.slice();
    for (let n = 1 + Math.floor(random() * 4); n > 0; n--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    try {
      generateTypes(loadCollectionSpec(bytes), { name: 'fuzz', object: bytes });
      generated++;
    } catch (error) {
      if (!(error instanceof TsbpfError)) throw new Error(`iteration ${i}: ${String((error as Error).stack)}`);
    }
  }
  assert.ok(generated > 0);
});
