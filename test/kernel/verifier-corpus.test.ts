import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildVerifierCorpus, corpusProgram, readCorpusFiles, readCorpusRecords } from '../support/verifier-corpus/index.ts';
import { skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { ProgramType } from '../../src/uapi/index.ts';
import { loadTimeMaps, verify } from '../../src/verifier/index.ts';
import { checkNoKernelLeaks } from './support.ts';

// A small part of the verifier corpus built as scripts/verifier-corpus.ts
// builds all of it: a handful of the kernel's verifier selftests from
// Debian's linux-source-6.12, compiled, loaded into this kernel, and judged
// against their annotations; and the BPF objects Debian ships in xdp-tests.

checkNoKernelLeaks();
const needs = { skip: skipWithoutKernel() || skipWithoutClang(), timeout: 300_000 };
const SELFTESTS = ['verifier_and.c', 'verifier_array_access.c', 'verifier_basic_stack.c', 'verifier_cfg.c', 'verifier_direct_packet_access.c', 'verifier_helper_packet_access.c'];

test('selftests: the kernel agrees with every annotation, logs hold the expected messages, figures are recorded', needs, async () => {
  const cacheDir = join(tmpdir(), `tsbpf-verifier-corpus-${process.pid}`);
  try {
    const build = await buildVerifierCorpus({ cacheDir, sources: ['selftests', 'debian'], selftestFiles: SELFTESTS, selftestCpus: ['v3'] });
    const selftests = build.summary.selftests!;
    assert.deepEqual([selftests.files, selftests.compiled, selftests.read], [SELFTESTS.length, SELFTESTS.length, SELFTESTS.length]);
    const records = readCorpusRecords(cacheDir, ['selftests']);
    assert.equal(records.length, selftests.programs);
    assert.ok(records.length >= 80, `a handful of files hold ${records.length} tests`);
    for (const r of records) {
      const where = `${r.file} ${r.program}`;
      assert.notEqual(r.kernel.verdict, 'not-loadable', `${where}: ${r.kernel.reason}`);
      assert.equal(r.agrees, true, `${where}: annotation says ${r.expected!.verdict}, kernel ${r.kernel.verdict} (${r.kernel.message ?? ''})`);
      // The CFG check refuses before any instruction is processed: 0 is a real figure there.
      assert.ok(r.kernel.processedInsns !== undefined && r.kernel.verificationTimeUs !== undefined && r.kernel.stackDepth !== undefined, `${where}: stats recorded`);
      if (r.kernel.verdict === 'accepted') assert.ok(r.kernel.processedInsns > 0, `${where}: processed instructions`);
      if (r.kernel.verdict === 'rejected') assert.ok(r.kernel.message && r.kernel.errno, `${where}: message and errno recorded`);
      if (r.expected!.messages.length > 0) assert.equal(r.messagesMatched, true, `${where}: log lacks ${JSON.stringify(r.expected!.messages)}`);
      if (r.retvalMatched !== undefined) assert.equal(r.retvalMatched, true, `${where}: test run returned ${r.kernel.retval}, expected ${r.expected!.retval}`);
    }
    assert.ok(selftests.withRetval! > 30, `__retval() tests ran: ${selftests.withRetval}`);
    assert.ok(records.some((r) => r.mapContents !== undefined && r.retvalMatched), 'a test reading the map prog_tests/verifier.c fills passes');
    assert.ok(selftests.accepted > 20 && selftests.rejected > 20, JSON.stringify(selftests));
    // tsbpf's verdict is the kernel's on each of them, verified with the prog_flags the kernel load used.
    for (const r of records) {
      const { spec, program } = corpusProgram(r, cacheDir);
      const type = program.type || (ProgramType as Record<string, number>)[r.programType]!;
      const result = verify(program, { maps: loadTimeMaps(spec), programFlags: r.programFlags, logLevel: 0, type });
      assert.equal(result.accepted, r.kernel.verdict === 'accepted', `${r.file} ${r.program}: tsbpf ${result.error?.message ?? 'accepts'}, the kernel ${r.kernel.message ?? 'accepts'}`);
    }
    const { spec, program } = corpusProgram(records.find((r) => r.program === 'invalid_and_of_negative_number')!, cacheDir);
    assert.equal(program.section, 'socket');
    assert.ok(Object.keys(spec.maps).includes('map_hash_48b'));

    // Debian's shipped objects: every one read; the little-endian programs the kernel can judge are judged.
    const debianFiles = readCorpusFiles(cacheDir, 'debian');
    assert.ok(debianFiles.length >= 50 && debianFiles.every((f) => f.read), debianFiles.filter((f) => !f.read).map((f) => `${f.file}: ${f.error}`).join('\n'));
    const shipped = readCorpusRecords(cacheDir, ['debian']);
    for (const name of ['xdp_pass.o', 'xdp_drop.o']) {
      const record = shipped.find((r) => r.file === `xdp-tests:/usr/libexec/xdp-tools/${name}`);
      assert.equal(record?.kernel.verdict, 'accepted', `${name}: ${JSON.stringify(record?.kernel)}`);
    }
    assert.ok(shipped.filter((r) => r.kernel.reason?.includes('big-endian')).length >= 30, 'the big-endian objects are read, not loaded');

    // Loop-heavy shipped programs whose counts depend on when states are stored and which one is pruned against
    // first (newest first, as the kernel's list): tsbpf explores exactly as many instructions as the kernel.
    const loopHeavy = [
      ['libbpf-tools:/usr/sbin/ksnoop#0', 'kprobe_entry'],
      ['libbpf-tools:/usr/sbin/ksnoop#0', 'kprobe_return'],
      ['libxdp1:/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o', 'xdpfilt_alw_ip'],
      ['libxdp1:/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_tcp.o', 'xdpfilt_dny_tcp'],
    ];
    for (const [file, name] of loopHeavy) {
      const record = shipped.find((r) => r.file === file && r.program === name);
      assert.equal(record?.kernel.verdict, 'accepted', `${file} ${name}: ${JSON.stringify(record?.kernel)}`);
      const { spec, program } = corpusProgram(record!, cacheDir);
      const type = program.type || (ProgramType as Record<string, number>)[record!.programType]!;
      const result = verify(program, { maps: loadTimeMaps(spec), programFlags: record!.programFlags, logLevel: 0, type });
      assert.ok(result.accepted, `${file} ${name}: ${result.error?.message}`);
      assert.equal(result.processedInsns, record!.kernel.processedInsns, `${file} ${name}: processed instructions`);
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});
