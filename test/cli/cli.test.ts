import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/commands.ts';
import { assemble, decode, disassemble, encode } from '../../src/isa/index.ts';
import { CaptureReader, decodePacket } from '../../src/net/index.ts';
import { loadKernelBtf } from '../../src/btf/index.ts';
import { spawnTsbpf, type CliOutcome } from '../support/cli.ts';
import { ROOT, fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { compileBpf } from '../support/clang.ts';

// Every test spawns the CLI built from source, as a user's shell would run
// `tsbpf`; spawns within a test run in parallel (each costs ~0.5 s).

const tsbpf = spawnTsbpf;

const EXAMPLE = join(ROOT, 'examples', 'xdp-drop-udp.s');
const TRAFFIC = join(ROOT, 'examples', 'traffic.pcap');

/** An Ethernet + IPv4 + UDP frame to `port`, what examples/xdp-drop-udp.s judges. */
function udpFrame(port: number): string {
  const ethernet = '0000000000020000000000010800';
  const ipv4 = '4500001c0001000040110000' + '0a000001' + '0a000101';
  const udp = `9c40${port.toString(16).padStart(4, '0')}00080000`;
  return ethernet + ipv4 + udp;
}

/** The rule of examples/xdp-drop-udp.s: IPv4 without options, UDP, destination port 9. */
function dropsRule(frame: Uint8Array): boolean {
  const d = decodePacket(frame);
  return d.ethernet?.type === 0x0800 && d.vlans.length === 0 && d.ip?.headerLength === 20 && d.transport?.protocol === 'udp' && d.transport.dport === 9;
}

test('help: the command list, and every command\'s usage through --help', async () => {
  const names = Object.keys(COMMANDS);
  const [list, helpRun, version, ...perCommand] = await Promise.all([tsbpf(['help']), tsbpf(['help', 'run']), tsbpf(['--version']), ...names.map((name) => tsbpf([name, '--help']))]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `tsbpf ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  assert.equal(list.code, 0);
  assert.equal(list.stderr, '');
  for (const name of names) assert.match(list.stdout, new RegExp(`^  ${name} +\\S`, 'm'), `'tsbpf help' lists ${name}`);
  assert.equal(helpRun.code, 0);
  assert.match(helpRun.stdout, /^usage: tsbpf run /);
  names.forEach((name, i) => {
    const outcome = perCommand[i]!;
    assert.equal(outcome.code, 0, `${name} --help: ${outcome.stderr}`);
    assert.equal(outcome.stderr, '');
    assert.match(outcome.stdout, new RegExp(`^usage: tsbpf ${name}\\b`), `${name} --help prints its usage`);
  });
  assert.equal(perCommand[names.indexOf('run')]!.stdout, helpRun.stdout, "'tsbpf help run' and 'tsbpf run --help' print the same");
});

test('usage errors exit 2 with the message and the usage on stderr', async () => {
  const [unknownCommand, helpUnknown, unknownOption, extraArgument, missingFile, badId, badValue, notRunnable] = await Promise.all([
    tsbpf(['bogus']),
    tsbpf(['help', 'bogus']),
    tsbpf(['run', EXAMPLE, '--type', 'xdp', '--data', '00', '--bogus']),
    tsbpf(['prog', 'list', 'extra']),
    tsbpf(['asm']),
    tsbpf(['prog', 'show', 'abc']),
    tsbpf(['btf', 'dump', 'vmlinux', '--format', 'json']),
    tsbpf(['run', EXAMPLE, '--type', 'kprobe/do_nanosleep', '--data', udpFrame(9)]),
  ]);
  const expectations: Array<[CliOutcome, RegExp]> = [
    [unknownCommand, /^tsbpf: unknown command 'bogus'\n\nusage: tsbpf <command>/],
    [helpUnknown, /^tsbpf help: unknown command 'bogus'\n\nusage: tsbpf <command>/],
    [unknownOption, /^tsbpf run: unknown option '--bogus'\n\nusage: tsbpf run /],
    [extraArgument, /^tsbpf prog: unexpected argument 'extra'\n\nusage: tsbpf prog /],
    [missingFile, /^tsbpf asm: missing FILE\n\nusage: tsbpf asm /],
    [badId, /^tsbpf prog: invalid program id 'abc'\n\nusage: tsbpf prog /],
    [badValue, /^tsbpf btf: --format must be raw or c, not 'json'\n\nusage: tsbpf btf /],
    [notRunnable, /^tsbpf run: only XDP, tc and socket-filter programs can run; there are only xdp_drop_udp \(KPROBE\)\n\nusage: tsbpf run /],
  ];
  for (const [outcome, message] of expectations) {
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.equal(outcome.stdout, '');
    assert.match(outcome.stderr, message);
  }
});

test('failures exit 1 with one line on stderr, no stack', async () => {
  const [missing, notAssembly, notElf, directory] = await Promise.all([
    tsbpf(['asm', '/nonexistent/prog.s']),
    tsbpf(['run', TRAFFIC, '--type', 'xdp', '--data', udpFrame(9)]),
    tsbpf(['object', TRAFFIC]),
    tsbpf(['disasm', ROOT]),
  ]);
  const expectations: Array<[CliOutcome, RegExp]> = [
    [missing, /^tsbpf asm: cannot read \/nonexistent\/prog\.s: ENOENT: no such file or directory\n$/],
    [notAssembly, /^tsbpf run: .*traffic\.pcap:1:1: expected an instruction, found '.'\n$/],
    [notElf, /^tsbpf object: .*not an ELF file.*\n$/],
    [directory, /^tsbpf disasm: cannot read .*: EISDIR: illegal operation on a directory\n$/],
  ];
  for (const [outcome, message] of expectations) {
    assert.equal(outcome.code, 1, outcome.stderr);
    assert.equal(outcome.stdout, '');
    assert.match(outcome.stderr, message);
  }
});

test('asm, disasm --raw and run on the VM (interpreter and JIT) give what the library computes', async () => {
  const bytecode = encode(assemble(readFileSync(EXAMPLE, 'utf8')));
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cli-'));
  try {
    const passedPcap = join(dir, 'passed.pcap');
    const [asm, disasm, drop, pass, capture, jitCapture] = await Promise.all([
      tsbpf(['asm', EXAMPLE]),
      tsbpf(['disasm', '--raw', '-'], bytecode),
      tsbpf(['run', EXAMPLE, '--type', 'xdp', '--data', udpFrame(9), '--json']),
      tsbpf(['run', EXAMPLE, '--type', 'xdp', '--data', udpFrame(53)]),
      tsbpf(['run', EXAMPLE, '--type', 'xdp', '--pcap', TRAFFIC, '--json', '--out', passedPcap]),
      tsbpf(['run', EXAMPLE, '--type', 'xdp', '--pcap', TRAFFIC, '--jit', '--json']),
    ]);
    for (const outcome of [asm, disasm, drop, pass, capture, jitCapture]) assert.equal(outcome.code, 0, outcome.stderr);
    assert.equal(asm.stdout, `${Buffer.from(bytecode).toString('hex')}\n`);
    assert.equal(disasm.stdout, disassemble(decode(bytecode)));
    assert.deepEqual(
      { retval: JSON.parse(drop.stdout).retval, verdict: JSON.parse(drop.stdout).verdict },
      { retval: 1, verdict: 'XDP_DROP' },
    );
    assert.match(pass.stdout, /^retval 2 \(XDP_PASS\)\ndata [0-9a-f]+ \(42 bytes\)\nduration \d+ ns\n$/);

    // The oracle: decode the capture here and count what the program's rule drops.
    let packets = 0;
    let dropped = 0;
    for await (const packet of await CaptureReader.open(TRAFFIC)) {
      packets++;
      if (dropsRule(packet.data)) dropped++;
    }
    assert.ok(dropped > 0 && dropped < packets, 'the capture has packets of both verdicts');
    for (const outcome of [capture, jitCapture]) {
      const summary = JSON.parse(outcome.stdout);
      assert.equal(summary.packets, packets);
      assert.equal(summary.passed, packets - dropped);
      assert.deepEqual(summary.verdicts, { XDP_DROP: dropped, XDP_PASS: packets - dropped });
    }
    let written = 0;
    for await (const packet of await CaptureReader.open(passedPcap)) {
      written++;
      assert.ok(!dropsRule(packet.data), 'only packets the program passes are written');
    }
    assert.equal(written, packets - dropped);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run --pcap on a capture no program can be given says why each packet was refused, and fails when none ran', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cli-'));
  try {
    const bytes = readFileSync(TRAFFIC);
    // A classic pcap's link type is the global header's last field.
    assert.ok([0xa1b2c3d4, 0xa1b23c4d].includes(bytes.readUInt32LE(0)), 'a little-endian classic pcap');
    bytes.writeUInt32LE(999, 20);
    const odd = join(dir, 'linktype999.pcap');
    writeFileSync(odd, bytes);
    const outcome = await tsbpf(['run', EXAMPLE, '--type', 'xdp', '--pcap', odd]);
    assert.equal(outcome.code, 1, outcome.stderr);
    assert.match(outcome.stdout, /^(\d+) packets, 0 passed, \1 refused by the test run\n/);
    assert.match(outcome.stderr, /^refused (\d+) of \1: link type .*999 cannot be converted to Ethernet\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kernel: btf dump vmlinux, prog/map/link list --json, feature, run --backend kernel', { skip: skipWithoutKernel() }, async () => {
  const [btfRaw, btfC, progs, maps, links, feature, kernelRun] = await Promise.all([
    tsbpf(['btf', 'dump', 'vmlinux', '--type', 'task_struct']),
    tsbpf(['btf', 'dump', 'vmlinux', '--format', 'c', '--type', 'xdp_md']),
    tsbpf(['prog', 'list', '--json']),
    tsbpf(['map', 'list', '--json']),
    tsbpf(['link', 'list', '--json']),
    tsbpf(['feature', '--json']),
    tsbpf(['run', EXAMPLE, '--type', 'xdp', '--backend', 'kernel', '--data', udpFrame(9)]),
  ]);
  for (const outcome of [btfRaw, btfC, progs, maps, links, feature, kernelRun]) assert.equal(outcome.code, 0, outcome.stderr);
  const taskStruct = loadKernelBtf().findByName('task_struct')[0]!;
  assert.match(btfRaw.stdout, new RegExp(`^\\[${taskStruct.id}\\] STRUCT 'task_struct' size=\\d+ vlen=\\d+\\n`));
  assert.match(btfC.stdout, /^struct xdp_md \{\n(\t__u32 \w+;\n)+\};\n/m);
  for (const list of [progs, maps, links]) assert.ok(Array.isArray(JSON.parse(list.stdout)));
  const report = JSON.parse(feature.stdout);
  assert.deepEqual(report.programTypes.find((r: { name: string }) => r.name === 'XDP').state, 'supported');
  assert.match(kernelRun.stdout, /^retval 1 \(XDP_DROP\)\n/);
});

test('clang object: object --json, disasm with source lines, btf dump --format c', { skip: skipWithoutClang() }, async () => {
  const object = compileBpf(fixturePath('runtime', 'xdp_parser.c'));
  const [summary, disasm, btf] = await Promise.all([tsbpf(['object', object, '--json']), tsbpf(['disasm', object]), tsbpf(['btf', 'dump', object, '--format', 'c'])]);
  for (const outcome of [summary, disasm, btf]) assert.equal(outcome.code, 0, outcome.stderr);
  const spec = JSON.parse(summary.stdout);
  assert.deepEqual(Object.keys(spec.programs), ['xdp_parse']);
  assert.equal(spec.programs.xdp_parse.section, 'xdp');
  assert.match(disasm.stdout, /^Program xdp_parse \(section 'xdp', XDP, \d+ instructions\):\n\n0000000000000000 <xdp_parse>:\n; /);
  assert.match(btf.stdout, /^struct xdp_md \{$/m);
});
