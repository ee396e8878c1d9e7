import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToolArgs, type OptionSpec } from '../../src/tools/args.ts';
import { ToolError, ToolUsageError, flameGraphSvg, formatLog2Histogram, log2Buckets, parseFolded, tcpconnectHeader, TOOLS } from '../../src/tools/index.ts';
import { formatAddress } from '../../src/tools/format.ts';
import { foldedLine, stackBlock, type StackSample, withoutTracingFrames } from '../../src/tools/stacks.ts';
import { formatSession, tcplifeHeader } from '../../src/tools/tcplife.ts';
import { formatSyscount } from '../../src/tools/syscount.ts';
import { formatArgs } from '../../src/tools/execsnoop.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

test('log2 histograms print as BCC prints them: 0 -> 1 first, a 40-wide bar scaled to the largest count', () => {
  // Slots as the programs count them: 0 for 0, 1 for 1, 2 for 2-3, 3 for 4-7, 4 for 8-15.
  const buckets = log2Buckets(new Map([[0, 1], [1, 1], [3, 4], [4, 8]]));
  assert.deepEqual(buckets, [
    { low: 0, high: 1, count: 2 },
    { low: 2, high: 3, count: 0 },
    { low: 4, high: 7, count: 4 },
    { low: 8, high: 15, count: 8 },
  ]);
  assert.equal(
    formatLog2Histogram(buckets, 'usecs'),
    [
      '     usecs               : count     distribution',
      '         0 -> 1          : 2        |**********                              |',
      '         2 -> 3          : 0        |                                        |',
      '         4 -> 7          : 4        |********************                    |',
      '         8 -> 15         : 8        |****************************************|',
      '',
    ].join('\n'),
  );
  assert.equal(formatLog2Histogram([], 'usecs'), '');
  // More than 32 rows: BCC's wide layout with a 20-wide bar.
  const wide = formatLog2Histogram(log2Buckets(new Map([[40, 3]])), 'nsecs').split('\n');
  assert.equal(wide[0], `               ${'nsecs'.padEnd(29)} : count     distribution`);
  assert.equal(wide.at(-2), `${String(2 ** 39).padStart(20)} -> ${String(2 ** 40 - 1).padEnd(20)} : 3        |********************|`);
});

test('addresses: IPv4, IPv6 with the longest zero run as ::, and IPv4-mapped IPv6', () => {
  assert.equal(formatAddress(2, Uint8Array.from([127, 0, 0, 1, ...new Array(12).fill(0)])), '127.0.0.1');
  assert.equal(formatAddress(10, Uint8Array.from([...new Array(15).fill(0), 1])), '::1');
  assert.equal(formatAddress(10, Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])), '2001:db8::10');
  assert.equal(formatAddress(10, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7])), '::ffff:10.0.0.7');
  assert.equal(formatAddress(10, Uint8Array.from([0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 5])), '1:0:2:0:3:0:4:5');
});

test('BCC layouts: tcpconnect, tcplife, syscount, execsnoop ARGS, stacks multi-line and folded', () => {
  assert.equal(tcpconnectHeader(true, true, false), 'TIME(s)  UID   PID    COMM         IP SADDR            DADDR            DPORT\n');
  assert.equal(tcplifeHeader('normal', false, false), 'PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS\n');
  const session = { timestampNs: 0n, pid: 42, comm: 'curl-with-a-long-name', ipVersion: 4 as const, laddr: '10.0.0.1', lport: 5000, raddr: '10.0.0.2', rport: 80, txBytes: 2048n, rxBytes: 100_000n, durationMs: 12.345 };
  assert.equal(formatSession(session, 'normal'), '42    curl-with- 10.0.0.1        5000  10.0.0.2        80        2    97 12.35');
  assert.equal(formatSession(session, 'csv'), '42,curl-with-a-long-name,4,10.0.0.1,5000,10.0.0.2,80,2,97,12.35');
  const text = formatSyscount({ rows: [{ key: 39, name: 'getpid', count: 7, totalNs: 1500 }] }, { byProcess: false, latency: true, milliseconds: false, top: 10 }).split('\n');
  assert.match(text[0]!, /^\[\d\d:\d\d:\d\d\]$/);
  assert.equal(text[1], 'SYSCALL                   COUNT        TIME (us)');
  assert.equal(text[2], 'getpid                        7            1.500');
  assert.equal(formatArgs({ argv: ['ls', 'a "b"'], truncated: true }, true), '"ls" "a \\"b\\"" ...');
  const sample: StackSample = { pid: 7, tgid: 7, comm: 'app', userStack: ['inner', 'main'], kernelStack: ['schedule', 'do_sys'], userMissing: false, kernelMissing: false, value: 12 };
  assert.equal(foldedLine(sample, { userOnly: false, kernelOnly: false, delimited: true }), 'app;main;inner;-;do_sys;schedule 12');
  assert.equal(stackBlock(sample, { userOnly: false, kernelOnly: false, delimited: false }), '    schedule\n    do_sys\n    inner\n    main\n    -                app (7)\n        12\n\n');
  assert.deepEqual(withoutTracingFrames(['bpf_prog_1807cab1826c8136_on_switch', 'bpf_trace_run4', '__traceiter_sched_switch', '__schedule', 'schedule']), ['__schedule', 'schedule']);
  assert.equal(foldedLine({ ...sample, userStack: undefined, userMissing: true }, { userOnly: true, kernelOnly: false, delimited: false }), 'app;[Missed User Stack] 12');
});

test('flame graph: boxes as wide as their samples, names escaped, tooltips with counts', () => {
  const svg = flameGraphSvg('app;main;hot 90\napp;main;cold<x> 10\n');
  assert.match(svg, /<title>hot \(90 samples, 90\.00%\)<\/title><rect x="[\d.]+" y="\d+" width="1062\.0"/);
  assert.match(svg, /<title>cold&lt;x&gt; \(10 samples, 10\.00%\)<\/title>/);
  assert.match(svg, /<title>all \(100 samples, 100\.00%\)<\/title>/);
  assert.throws(() => parseFolded('app;main\n'), (e: unknown) => e instanceof ToolError && /line 1/.test(e.message));
});

test('fuzz: folded-stack input of any shape gives an SVG or a ToolError', () => {
  const random = seededRandom(fuzzSeed(1303));
  const alphabet = ['a', 'b', ';', ' ', '1', '9', '\n', '<', '&', '"', '\t', '0', 'é'];
  for (let i = 0; i < 400; i++) {
    const text = Array.from({ length: Math.floor(random() * 80) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    try {
      assert.match(flameGraphSvg(text), /<\/svg>\n$/);
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
    }
  }
  // A very deep stack is cut, not drawn frame by frame without end.
  const deep = `${Array.from({ length: 50_000 }, (_, i) => `f${i}`).join(';')} 1`;
  assert.ok(parseFolded(deep).value === 1);
});

test('options: BCC-style clusters and values; fuzzed argument lists give values or a ToolUsageError', () => {
  const options: OptionSpec[] = [
    { short: 't', long: 'timestamp', kind: 'flag', help: '' },
    { short: 'p', long: 'pid', kind: 'integer', help: '' },
    { short: 'P', long: 'port', kind: 'list', help: '' },
    { short: 'd', long: 'duration', kind: 'number', help: '' },
  ];
  assert.deepEqual(parseToolArgs(['-tp', '12', '--port=80,443', '5'], options, 1), { values: { timestamp: true, pid: 12, port: [80, 443] }, positional: ['5'] });
  assert.throws(() => parseToolArgs(['-p', 'x'], options, 0), /needs a non-negative integer, got 'x'/);
  assert.throws(() => parseToolArgs(['-P', '70000'], options, 0), ToolUsageError);
  assert.throws(() => parseToolArgs(['--nope'], options, 0), /unknown option '--nope'/);
  const random = seededRandom(fuzzSeed(1304));
  const words = ['-t', '-p', '-P', '-d', '--pid', '--pid=', '--port=1,2', '-tp', '5', '-1', '0.5', 'x', '', '--', '--json', '-h', '65536', '1,,2'];
  for (let i = 0; i < 500; i++) {
    const args = Array.from({ length: Math.floor(random() * 6) }, () => words[Math.floor(random() * words.length)]!);
    try {
      parseToolArgs(args, options, 1);
    } catch (error) {
      if (!(error instanceof ToolUsageError)) throw error;
    }
  }
});

test('every tool has --help with its options, and usage errors name the option', async () => {
  for (const tool of Object.values(TOOLS)) {
    let text = '';
    await tool.run(['--help'], (t) => (text += t), new AbortController().signal);
    assert.match(text, new RegExp(`^usage: tsbpf ${tool.name} .*\n {7}tsbpf tool ${tool.name} `), tool.name);
    assert.match(text, /--json/);
    await assert.rejects(tool.run(['--no-such-option'], () => undefined, new AbortController().signal), (e: unknown) => e instanceof ToolUsageError && /--no-such-option/.test(e.message));
  }
});
