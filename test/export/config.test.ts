import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ExportConfigError, loadExporterConfig, mergeExporterConfigs, parseExporterConfig } from '../../src/export/index.ts';
import { fixturePath } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const FILE = '/etc/tsbpf/biolatency.yaml';

function fails(text: string, keyPath: string, problem: RegExp, line?: number): void {
  assert.throws(
    () => parseExporterConfig(text, FILE),
    (error: unknown) => {
      assert.ok(error instanceof ExportConfigError, String(error));
      assert.equal(error.file, FILE);
      assert.equal(error.keyPath, keyPath);
      assert.match(error.problem, problem);
      if (line !== undefined) assert.equal(error.line, line);
      assert.ok(error.message.startsWith(`${FILE}${error.line !== undefined ? `:${error.line}` : ''}: `), error.message);
      return true;
    },
  );
}

test('an ebpf_exporter config is one program named after its file, its object beside it', () => {
  const config = parseExporterConfig(readFileSync(fixturePath('export', 'syscalls.yaml'), 'utf8'), '/srv/configs/syscalls.yaml');
  assert.equal(config.programs.length, 1);
  const [program] = config.programs;
  assert.equal(program!.name, 'syscalls');
  assert.equal(program!.object, '/srv/configs/syscalls.bpf.o');
  assert.deepEqual(
    program!.counters.map((c) => [c.name, c.labels.map((l) => `${l.name}:${l.size}:${l.decoders.map((d) => d.name).join('>')}`)]),
    [
      ['syscalls_total', ['syscall:8:uint>syscall', 'comm:16:string']],
      ['getppid_calls_total', []],
      ['getppid_events_total', ['comm:16:string']],
    ],
  );
  const [histogram] = program!.histograms;
  assert.deepEqual([histogram!.bucketType, histogram!.bucketMin, histogram!.bucketMax, histogram!.bucketMultiplier], ['exp2', 0, 24, 1]);
  assert.equal(config.programStats, true);
});

test("ebpf_exporter's own example configs parse as they are", () => {
  // Shapes taken from ebpf_exporter's examples (biolatency with static_map and majorminor, tracing spans, fixed buckets, regexp).
  const biolatency = `metrics:
  histograms:
    - name: bio_latency_seconds
      help: Block IO latency histogram
      bucket_type: exp2
      bucket_min: 0
      bucket_max: 26
      bucket_multiplier: 0.000001 # microseconds to seconds
      labels:
        - name: device
          size: 32
          decoders:
            - name: string
        - name: operation
          size: 8
          decoders:
            - name: uint
            - name: static_map
              static_map:
                1: read
                2: write
        - name: bucket
          size: 8
          decoders:
            - name: uint
`;
  const config = parseExporterConfig(biolatency, '/x/biolatency.yaml');
  const histogram = config.programs[0]!.histograms[0]!;
  assert.equal(histogram.bucketMultiplier, 0.000001);
  assert.deepEqual(histogram.labels[1]!.decoders[1]!.staticMap, { '1': 'read', '2': 'write' });

  const fixed = parseExporterConfig(
    `metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: fixed\n      bucket_keys: [1, 10, 100]\n      labels: [{ name: bucket, size: 8, decoders: [{ name: uint }] }]\n  counters:\n    - name: c\n      help: c\n      labels: [{ name: cgroup, size: 8, decoders: [{ name: uint }, { name: cgroup }, { name: regexp, regexps: ['^/sys/fs/cgroup/(.+)$'] }] }]\n`,
    '/x/fixed.yaml',
  );
  assert.deepEqual(fixed.programs[0]!.histograms[0]!.bucketKeys, [1, 10, 100]);
  assert.ok(fixed.programs[0]!.counters[0]!.labels[0]!.decoders[2]!.regexps![0]!.test('/sys/fs/cgroup/system.slice'));

  const tracing = parseExporterConfig(
    `tracing:\n  spans:\n    - ringbuf: exec_spans\n      service: exec-trace\n      labels:\n        - { name: trace_id, size: 16, decoders: [{ name: hex }] }\n`,
    '/x/exec-trace.yaml',
  );
  assert.deepEqual(
    tracing.programs[0]!.spans.map((s) => [s.name, s.ringbuf, s.service]),
    [['exec_spans', 'exec_spans', 'exec-trace']],
  );
});

test('a programs config: several objects, OTLP endpoint, stats switch; relative objects resolve beside the file', () => {
  const config = parseExporterConfig(
    `otlp:\n  endpoint: http://collector:4318/\n  headers: { x-tenant: a }\nprogram_stats: false\nprograms:\n  - name: one\n    object: objs/one.bpf.o\n    metrics: { counters: [{ name: a_total, help: a }] }\n  - name: two\n    metrics: { counters: [{ name: b_total, help: b }] }\n`,
    '/etc/tsbpf/exporter.yaml',
  );
  assert.deepEqual(
    config.programs.map((p) => [p.name, p.object]),
    [
      ['one', '/etc/tsbpf/objs/one.bpf.o'],
      ['two', '/etc/tsbpf/two.bpf.o'],
    ],
  );
  assert.deepEqual(config.otlp, { endpoint: 'http://collector:4318', headers: { 'x-tenant': 'a' } });
  assert.equal(config.programStats, false);
});

test('config errors name the file, the key path, the line and the problem', () => {
  const counter = (labels: string) => `metrics:\n  counters:\n    - name: x_total\n      help: x\n      labels:\n${labels}`;
  fails(counter('        - name: cpu\n          size: 3\n          decoders: [{ name: uint }]\n'), 'metrics.counters[0].labels[0].size', /3 bytes cannot go to the uint decoder, which takes 1, 2, 4, 8 bytes/, 7);
  fails(counter('        - name: cpu\n          size: 4\n          decoders: [{ name: unit }]\n'), 'metrics.counters[0].labels[0].decoders[0].name', /unknown decoder 'unit'/, 8);
  fails(counter('        - name: cpu\n          sise: 4\n'), 'metrics.counters[0].labels[0].sise', /unknown key \(expected one of name, size, padding, decoders\)/, 7);
  fails(counter('        - name: 9cpu\n          size: 4\n          decoders: [{ name: uint }]\n'), 'metrics.counters[0].labels[0].name', /not a Prometheus label name/);
  fails(counter('        - name: re\n          size: 4\n          decoders: [{ name: regexp, regexps: ["(unclosed"] }]\n'), 'metrics.counters[0].labels[0].decoders[0].regexps[0]', /not a regular expression/);
  fails('metrics:\n  counters:\n    - help: x\n', 'metrics.counters[0].name', /is missing/);
  fails('metrics:\n  counters:\n    - name: x\n      help: x\n    - name: x\n      help: y\n', 'metrics.counters[1].name', /already defined at metrics.counters\[0\].name/, 5);
  fails('metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: exp3\n', 'metrics.histograms[0].bucket_type', /unknown bucket type 'exp3'/, 5);
  fails('metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: exp2\n      bucket_min: 5\n      bucket_max: 5\n      labels: [{ name: b, size: 4, decoders: [{ name: uint }] }]\n', 'metrics.histograms[0].bucket_max', /must be above bucket_min \(5\)/);
  fails('metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: fixed\n      bucket_keys: [1, 1]\n      labels: [{ name: b, size: 4, decoders: [{ name: uint }] }]\n', 'metrics.histograms[0].bucket_keys[1]', /keys must increase/);
  fails('metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: exp2\n      bucket_min: 0\n      bucket_max: 8\n      labels: []\n', 'metrics.histograms[0].labels', /the last one is the bucket/);
  fails('metrics: {}\n', '', /defines neither metrics/);
  fails('cgroup_id_map: { name: x }\nmetrics: { counters: [{ name: a, help: a }] }\n', 'cgroup_id_map.regexps', /is missing/);
  fails('cgroup_id_map: { name: x, type: tree, regexps: [a] }\nmetrics: { counters: [{ name: a, help: a }] }\n', 'cgroup_id_map.type', /unknown type 'tree' \(hash or cgrp_storage\)/);
  fails('metrics: { counters: [{ name: a, help: a, flush_interval: 1m }] }\n', 'metrics.counters[0].flush_interval', /only applies to perf_event_array counters/);
  fails('metrics: { counters: [{ name: a, help: a, perf_event_array: true, flush_interval: soon }] }\n', 'metrics.counters[0].flush_interval', /must be a duration like 30s, 5m or 1h, not the string 'soon'/);
  fails('metrics: { counters: [{ name: a, help: a, perf_event_array: true, flush_interval: 10ms }] }\n', 'metrics.counters[0].flush_interval', /out of range: from 1s/);
  assert.equal(parseExporterConfig('metrics: { counters: [{ name: a, help: a, perf_event_array: true, flush_interval: 1h30m }] }\n', FILE).programs[0]!.counters[0]!.flushIntervalMs, 5_400_000);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    metrics: { counters: [{ name: a, help: a }] }\n', 'programs[0].metrics', /unknown key \(expected one of name, script, args, max_map_keys, maps\)/, 4);
  fails('programs:\n  - name: a\n    script: missing.bt\n', 'programs[0].script', /'missing.bt' is neither a script \(no probe body in braces\) nor a readable file: ENOENT/, 3);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    tool: biolatency\n', 'programs[0].tool', /one of 'object', 'script' and 'tool'/);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    maps: { x: { labels: [a, a] } }\n', 'programs[0].maps.x.labels[1]', /label 'a' appears twice/);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    maps: { "@x": { name: "a-b" } }\n', 'programs[0].maps.@x.name', /not a Prometheus metric name/);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    maps: { x: false, "@x": {} }\n', 'programs[0].maps.@x', /map '@x' is configured twice/);
  fails('programs:\n  - name: a\n    script: "BEGIN { @x = count(); }"\n    max_map_keys: 0\n', 'programs[0].max_map_keys', /integer from 1 to 1000000/);
  fails('programs:\n  - name: a\n    tool: biolatency\n    options: [1]\n', 'programs[0].options', /must be a mapping, not a list/);
  fails('programs:\n  - name: a\n    tool: biolatency\n    metrics: {}\n', 'programs[0].metrics', /unknown key \(expected one of name, tool, options\)/);
  fails('programs:\n  - name: a\n    metrics: { counters: [{ name: a, help: a }] }\n  - name: a\n    metrics: { counters: [{ name: b, help: b }] }\n', 'programs[1].name', /a second program named 'a'/);
  fails('otlp: { endpoint: "udp://x:1" }\nprograms:\n  - name: a\n    metrics: { counters: [{ name: a, help: a }] }\n', 'otlp.endpoint', /needs an http or https URL/);
  fails('metrics:\n  counters: [\n', '', /YAML syntax/);
  fails('- a\n- b\n', '', /must be a YAML mapping/);
  fails('metrics:\n  counters:\n    - name: a\n      name: b\n', '', /YAML syntax: Map keys must be unique/, 4);
});

test('fuzz: mutated configs give an ExportConfigError or a config, never anything else', () => {
  const random = seededRandom(fuzzSeed(1515));
  const base = readFileSync(fixturePath('export', 'syscalls.yaml'), 'utf8');
  const pieces = ['{', '}', '[', ']', ':', '- ', '\n', '  ', '&a ', '*a', '!!binary ', '"', "'", '0x10', '-1', '1e400', 'null', '~', 'size', 'decoders', 'name', '\t', '#'];
  const values: unknown[] = [null, 0, -1, 1.5, 2 ** 53, 'x', '', true, [], {}, [{}], { name: 'uint' }, 'exp2', 1e308];
  const keys = ['metrics', 'counters', 'histograms', 'labels', 'name', 'help', 'size', 'padding', 'decoders', 'bucket_type', 'bucket_min', 'bucket_max', 'bucket_keys', 'bucket_multiplier', 'static_map', 'regexps', 'tracing', 'spans', 'ringbuf', 'programs', 'otlp', 'endpoint'];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const randomTree = (depth: number): unknown => {
    if (depth === 0 || random() < 0.3) return pick(values);
    if (random() < 0.4) return Array.from({ length: Math.floor(random() * 3) }, () => randomTree(depth - 1));
    return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 3) }, () => [pick(keys), randomTree(depth - 1)]));
  };
  let accepted = 0;
  for (let i = 0; i < 400; i++) {
    let text: string;
    if (i % 2 === 0) {
      const chars = [...base];
      for (let m = 0; m < 1 + Math.floor(random() * 4); m++) {
        const at = Math.floor(random() * chars.length);
        if (random() < 0.5) chars.splice(at, 1 + Math.floor(random() * 8));
        else chars.splice(at, 0, pick(pieces));
      }
      text = chars.join('');
    } else {
      text = stringify({ metrics: randomTree(5) });
    }
    try {
      parseExporterConfig(text, FILE);
      accepted++;
    } catch (error) {
      assert.ok(error instanceof ExportConfigError, `input ${i} threw ${String(error)}:\n${text}`);
    }
  }
  assert.ok(accepted > 0 && accepted < 400, `${accepted} of 400 accepted: the fuzzer reaches both outcomes`);
});

test('without an otlp key, OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS say where spans go, as for ebpf_exporter', () => {
  const tracing = 'tracing:\n  spans:\n    - { ringbuf: exec_spans, labels: [{ name: trace_id, size: 16, decoders: [{ name: hex }] }] }\n';
  assert.equal(parseExporterConfig(tracing, FILE).otlp, undefined);
  assert.deepEqual(parseExporterConfig(tracing, FILE, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=a%20b, auth=t' }).otlp, {
    endpoint: 'http://collector:4318',
    headers: { 'x-tenant': 'a b', auth: 't' },
  });
  const withKey = `otlp: { endpoint: 'http://mine:4318' }\nprograms:\n  - name: p\n    ${tracing.replace(/\n/g, '\n    ')}`;
  assert.equal(parseExporterConfig(withKey, FILE, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://other:4318' }).otlp?.endpoint, 'http://mine:4318', 'the config wins');
  for (const [environment, variable] of [
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'a=%zz' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
  ] as const) {
    assert.throws(
      () => parseExporterConfig(tracing, FILE, environment),
      (e: unknown) => e instanceof ExportConfigError && e.file === '(environment)' && e.keyPath === variable,
    );
  }
});

test('several configs merge into one exporter: program and metric names stay unique, one OTLP receiver', () => {
  const one = parseExporterConfig('metrics: { counters: [{ name: a_total, help: a }] }\n', '/c/one.yaml');
  const two = parseExporterConfig('metrics: { counters: [{ name: b_total, help: b }] }\n', '/c/two.yaml');
  const merged = mergeExporterConfigs([one, two]);
  assert.deepEqual(
    merged.programs.map((p) => [p.name, p.file, p.object]),
    [
      ['one', '/c/one.yaml', '/c/one.bpf.o'],
      ['two', '/c/two.yaml', '/c/two.bpf.o'],
    ],
  );
  const clash = parseExporterConfig('metrics: { counters: [{ name: a_total, help: again }] }\n', '/c/three.yaml');
  assert.throws(
    () => mergeExporterConfigs([one, clash]),
    (e: unknown) => e instanceof ExportConfigError && e.file === '/c/three.yaml' && e.keyPath === 'metrics.counters[0].name' && /also defined in \/c\/one\.yaml metrics\.counters\[0\]/.test(e.problem),
  );
  const receiver = (endpoint: string, file: string) => parseExporterConfig(`otlp: { endpoint: '${endpoint}' }\nprograms:\n  - name: ${file}\n    metrics: { counters: [{ name: ${file}_total, help: x }] }\n`, `/c/${file}.yaml`);
  assert.equal(mergeExporterConfigs([receiver('http://a:4318', 'p'), receiver('http://a:4318', 'q')]).otlp?.endpoint, 'http://a:4318');
  assert.throws(() => mergeExporterConfigs([receiver('http://a:4318', 'p'), receiver('http://b:4318', 'q')]), /q\.yaml: otlp: names another OTLP receiver than \/c\/p\.yaml/);
  assert.throws(() => mergeExporterConfigs([]), ExportConfigError);
});

test('an endless or huge config or script file is refused at the config limit, not read into memory', () => {
  for (const load of [() => loadExporterConfig('/dev/zero'), () => parseExporterConfig('programs:\n  - name: s\n    script: /dev/zero\n', FILE)]) {
    assert.throws(load, (error: unknown) => error instanceof ExportConfigError && /larger than the input limit of 4194304 bytes/.test(error.message));
  }
});

test('an inline script\'s errors give the config\'s own line and column when the config holds the script verbatim', () => {
  const place = (text: string): string => {
    try {
      parseExporterConfig(text, FILE);
    } catch (error) {
      assert.ok(error instanceof ExportConfigError, String(error));
      assert.equal(error.keyPath, 'programs[0].script');
      return error.problem.replace(/: syntax error.*$/s, '');
    }
    assert.fail('the config was accepted');
  };
  // A literal block: script line 3 (`}`) is the config's line 6, indented by 6.
  assert.equal(place('programs:\n  - name: a\n    script: |\n      BEGIN {\n        @x = count(\n      }\n'), `${FILE}:6:7-8`);
  // A blank line inside the block, and a block that ends the file without a final line break.
  assert.equal(place('programs:\n  - name: a\n    script: |\n      BEGIN {\n\n        @x = count(\n      }'), `${FILE}:7:7-8`);
  // One-line plain and quoted scalars: the columns after the key (and the quote).
  assert.equal(place('programs:\n  - name: a\n    script: BEGIN { @x = count( }\n'), `${FILE}:3:33-34`);
  assert.equal(place('programs:\n  - name: a\n    script: "BEGIN { @x = count( }"\n'), `${FILE}:3:34-35`);
  // Text the config changes (an escape, a folded block) keeps the script's own lines, named by key.
  assert.equal(place('programs:\n  - name: a\n    script: "BEGIN { printf(\\"x\\"); @x = count( }"\n'), `${FILE}:programs[0].script:1:34-35`);
  assert.equal(place('programs:\n  - name: a\n    script: >\n      BEGIN {\n        @x = count(\n      }\n'), `${FILE}:programs[0].script:3:1-2`);
});

