/**
 * Container exec auditing (examples/audit): container ids from cgroup
 * paths, the rule file and its errors, matching, event decoding, and the
 * whole tool in the kernel: the test makes a cgroup with a Docker-like
 * path and a plain one, runs commands in each, and checks that the alerts
 * (and the absence of alerts) are exactly the expected ones.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroup2Mount, containerOf, decodeExecEvent, ExecEventError, loadAuditRules, parseAuditRules, ruleMatches, type ExecContext } from '../../src/tools/audit/index.ts';
import { ConfigFileError } from '../../src/tools/usecase-support/index.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { seededRandom } from '../support/random.ts';

const HEX = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a';

test('container ids from the cgroup paths of docker, containerd, cri-o, podman and Kubernetes; none from other paths', () => {
  assert.deepEqual(containerOf(`/system.slice/docker-${HEX}.scope`), { runtime: 'docker', id: HEX });
  assert.deepEqual(containerOf(`/docker/${HEX}`), { runtime: 'docker', id: HEX });
  assert.deepEqual(containerOf(`/system.slice/containerd.service/kubepods-burstable-pod0c6c3f6e_1d2b_4c3a_9f1e_2b3c4d5e6f70.slice/cri-containerd-${HEX}.scope`), {
    runtime: 'containerd',
    id: HEX,
    pod: '0c6c3f6e-1d2b-4c3a-9f1e-2b3c4d5e6f70',
  });
  assert.deepEqual(containerOf(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c6c3f6e_1d2b_4c3a_9f1e_2b3c4d5e6f70.slice/crio-${HEX}.scope`)?.runtime, 'cri-o');
  assert.deepEqual(containerOf(`/kubepods/besteffort/pod0c6c3f6e-1d2b-4c3a-9f1e-2b3c4d5e6f70/${HEX}`), { runtime: 'kubernetes', id: HEX, pod: '0c6c3f6e-1d2b-4c3a-9f1e-2b3c4d5e6f70' });
  assert.deepEqual(containerOf(`/machine.slice/libpod-${HEX}.scope/container`), { runtime: 'podman', id: HEX });
  assert.equal(containerOf(`/user.slice/user-1000.slice/session-2.scope`), undefined);
  assert.equal(containerOf(`/system.slice/docker.service`), undefined);
  assert.equal(containerOf(`/system.slice/docker-${HEX.slice(0, 12)}.scope`), undefined, 'a short id is not a container id');
  assert.equal(containerOf(`/x/docker-${HEX}.scope.d`), undefined);
});

const RULES = `rules:
  - name: shell in a container
    command: [sh, bash, dash]
    container_only: true
  - name: reading shadow passwords
    args: ["/etc/shadow*"]
    priority: critical
  - name: long listing
    command: ls
    args: ["/^-[a-z]*a/"]
    priority: notice
  - name: id as nobody
    command: id
    user: nobody
  - name: marked echo
    command: echo
    args: ["tsbpf-marker-*"]
    priority: informational
`;

test('rules: parsed as documented, and errors name the file, the line and the key', () => {
  const rules = parseAuditRules(RULES, 'rules.yaml');
  assert.deepEqual(rules.map((r) => [r.name, r.priority, r.containerOnly, r.uids]), [
    ['shell in a container', 'warning', true, []],
    ['reading shadow passwords', 'critical', false, []],
    ['long listing', 'notice', false, []],
    ['id as nobody', 'warning', false, [65534]],
    ['marked echo', 'informational', false, []],
  ]);
  const cases: Array<[string, RegExp]> = [
    ['rules:\n  - name: a\n    comand: sh\n', /^r\.yaml:3: rules\[0\]\.comand: unknown key 'comand'/],
    ['rules:\n  - name: a\n    command: sh\n    priority: urgent\n', /^r\.yaml:4: rules\[0\]\.priority: unknown priority 'urgent'/],
    ['rules:\n  - name: a\n    args: ["/a(/"]\n', /^r\.yaml:3: rules\[0\]\.args\[0\]: bad regular expression: /],
    ['rules:\n  - name: a\n    args: ["[abc"]\n', /^r\.yaml:3: rules\[0\]\.args\[0\]: bad glob '\[abc': unclosed '\[' at character 1$/],
    ['rules:\n  - name: a\n    user: no-such-user-here\n', /^r\.yaml:3: rules\[0\]\.user: no user 'no-such-user-here' in \/etc\/passwd$/],
    ['rules:\n  - name: a\n', /^r\.yaml:2: rules\[0\]: rule 'a' has no condition/],
    ['rules:\n  - {name: a, command: x}\n  - {name: a, command: y}\n', /^r\.yaml:3: rules\[1\]: rule name 'a' is used twice$/],
    ['rules:\n  - name: a\n    container_only: yes please\n', /^r\.yaml:3: rules\[0\]\.container_only: expected true or false/],
    ['rule:\n  - name: a\n', /^r\.yaml:1: rule: unknown key 'rule'/],
    ['rules: {name: a}\n', /^r\.yaml:1: rules: expected a list, got a mapping$/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseAuditRules(text, 'r.yaml'), (err: unknown) => err instanceof ConfigFileError && message.test(err.message), text);
  }
  const random = seededRandom(1321);
  for (let n = 0; n < 400; n++) {
    const chars = [...RULES];
    for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) chars.splice(Math.floor(random() * chars.length), random() < 0.5 ? 1 : 0, ':-[]{}/*?.!,"\n a0'[Math.floor(random() * 19)]!);
    try {
      parseAuditRules(chars.join(''), 'fuzz.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigFileError, `${(err as Error).stack}\n---\n${chars.join('')}`);
    }
  }
});

test('rules: globs match whole names, regular expressions search, every args pattern needs an argument', () => {
  const [shell, shadow, listing, nobody] = parseAuditRules(RULES, 'rules.yaml');
  const event = (filename: string, argv: string[], uid = 0, container = true): ExecContext => ({
    pid: 1, ppid: 0, uid, gid: 0, cgroupId: 1n, comm: 'x', filename, argv, argsTruncated: false,
    cgroup: container ? `/docker-${HEX}.scope` : '/', container: container ? { runtime: 'docker', id: HEX } : undefined,
  });
  assert.equal(ruleMatches(shell!, event('/bin/sh', ['sh'])), true);
  assert.equal(ruleMatches(shell!, event('/bin/sh', ['sh'], 0, false)), false);
  assert.equal(ruleMatches(shell!, event('/usr/bin/ssh', ['ssh'])), false, 'a glob matches the whole base name');
  assert.equal(ruleMatches(shadow!, event('/usr/bin/cat', ['cat', '/etc/shadow-'])), true);
  assert.equal(ruleMatches(shadow!, event('/etc/shadow', ['/etc/shadow'])), false, 'argv[0] is not an argument');
  assert.equal(ruleMatches(listing!, event('/bin/ls', ['ls', '-la'])), true);
  assert.equal(ruleMatches(listing!, event('/bin/ls', ['ls', '-l', 'a'])), false);
  assert.equal(ruleMatches(nobody!, event('/usr/bin/id', ['id'], 65534)), true);
  assert.equal(ruleMatches(nobody!, event('/usr/bin/id', ['id'], 0)), false);
});

test('exec records decode with their full argv; short records are an ExecEventError and random ones never crash', () => {
  const record = new Uint8Array(4400);
  const view = new DataView(record.buffer);
  view.setBigUint64(0, 1234n, true);
  view.setUint32(8, 10, true);
  view.setUint32(12, 9, true);
  view.setUint32(16, 1000, true);
  const args = new TextEncoder().encode('cat\0/etc/shadow\0-n\0');
  view.setUint32(24, args.length, true);
  record.set(new TextEncoder().encode('cat'), 32);
  record.set(new TextEncoder().encode('/usr/bin/cat'), 48);
  record.set(args, 304);
  assert.deepEqual(decodeExecEvent(record), { cgroupId: 1234n, pid: 10, ppid: 9, uid: 1000, gid: 0, argsTruncated: false, comm: 'cat', filename: '/usr/bin/cat', argv: ['cat', '/etc/shadow', '-n'] });
  assert.throws(() => decodeExecEvent(record.subarray(0, 100)), ExecEventError);
  const random = seededRandom(1322);
  for (let n = 0; n < 200; n++) {
    const junk = Uint8Array.from({ length: 4400 }, () => Math.floor(random() * 256));
    const event = decodeExecEvent(junk);
    assert.ok(event.argv.join('\0').length <= 4096);
  }
});

/** Runs `command` with its exec inside cgroup directory `cgroup` (the shell moves itself there, then execs). */
function runIn(cgroup: string, command: string[]): void {
  const result = spawnSync('sh', ['-c', `echo $$ > '${cgroup}/cgroup.procs' && exec "$@"`, 'sh', ...command], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  assert.equal(result.status, 0, `${command.join(' ')}: ${result.stderr}`);
}

test('in the kernel: commands run in a Docker-like cgroup and a plain one give exactly the expected alerts', { skip: skipWithoutClang() || skipWithoutKernel(), timeout: 60_000 }, async (t) => {
  const mount = cgroup2Mount();
  assert.ok(mount, 'a cgroup v2 mount');
  const slice = join(mount, `tsbpf-test-${process.pid}.slice`);
  const container = join(slice, `docker-${HEX}.scope`);
  const plain = join(slice, 'plain.scope');
  t.after(() => {
    for (const dir of [container, plain, slice]) if (existsSync(dir)) rmdirSync(dir);
  });
  mkdirSync(plain, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'rules.yaml'), RULES);

  const object = compileBpf(join(ROOT, 'examples', 'audit', 'exec_audit.c'));
  const tool = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', '--rules', join(dir, 'rules.yaml'), '--cgroup', slice, '--object', object], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => tool.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  tool.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  tool.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => tool.on('exit', resolve));
  for (const start = Date.now(); !stderr.includes('watching execs'); ) {
    assert.ok(Date.now() - start < 30_000 && tool.exitCode === null, `the tool did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  // The container's cgroup appears after the tool started, as a container does: its path comes from /proc/PID/cgroup.
  mkdirSync(container);
  const manyArgs = Array.from({ length: 60 }, (_, i) => `tsbpf-marker-${i}`);
  const hugeArgs = ['tsbpf-marker-huge', 'x'.repeat(5000)];
  // In the container: alerts for the shell, the shadow read, the long listing, id as nobody, the echoes.
  runIn(container, ['sh', '-c', 'exit 0']);
  runIn(container, ['cat', '/etc/hostname']);
  runIn(container, ['cat', '/etc/shadow']);
  runIn(container, ['ls', '-la', '/']);
  runIn(container, ['ls', '-l', '/']);
  runIn(container, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'id', '-u']);
  runIn(container, ['id', '-u']);
  runIn(container, ['echo', ...manyArgs]);
  runIn(container, ['echo', ...hugeArgs]);
  // Outside a container: no shell alert, but the shadow read is one.
  runIn(plain, ['sh', '-c', 'exit 0']);
  runIn(plain, ['cat', '/etc/shadow']);
  runIn(plain, ['true']);

  const expected: Array<{ rule: string; argv0: string; inContainer: boolean; uid: number }> = [
    { rule: 'shell in a container', argv0: 'sh', inContainer: true, uid: 0 },
    { rule: 'reading shadow passwords', argv0: 'cat', inContainer: true, uid: 0 },
    { rule: 'long listing', argv0: 'ls', inContainer: true, uid: 0 },
    { rule: 'id as nobody', argv0: 'id', inContainer: true, uid: 65534 },
    { rule: 'marked echo', argv0: 'echo', inContainer: true, uid: 0 },
    { rule: 'marked echo', argv0: 'echo', inContainer: true, uid: 0 },
    { rule: 'reading shadow passwords', argv0: 'cat', inContainer: false, uid: 0 },
  ];
  for (const start = Date.now(); stdout.split('\n').filter(Boolean).length < expected.length; ) {
    assert.ok(Date.now() - start < 10_000, `only these alerts arrived:\n${stdout}\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // SIGHUP reloads the rules: a new rule applies to the next exec.
  writeFileSync(join(dir, 'rules.yaml'), `${RULES}  - name: true ran\n    command: 'true'\n`);
  tool.kill('SIGHUP');
  for (const start = Date.now(); !stderr.includes('reloaded 6 rules'); ) {
    assert.ok(Date.now() - start < 10_000, `no reload: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  runIn(plain, ['true']);
  expected.push({ rule: 'true ran', argv0: 'true', inContainer: false, uid: 0 });
  for (const start = Date.now(); stdout.split('\n').filter(Boolean).length < expected.length; ) {
    assert.ok(Date.now() - start < 10_000, `no alert after the reload:\n${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  tool.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
  const summary = lines.pop();
  assert.deepEqual(
    lines.map((a) => ({ rule: a.rule, argv0: a.argv[0], inContainer: a.container_id === HEX, uid: a.uid })),
    expected,
  );
  for (const alert of lines) {
    assert.equal(alert.cgroup, alert.container_id ? `/tsbpf-test-${process.pid}.slice/docker-${HEX}.scope` : `/tsbpf-test-${process.pid}.slice/plain.scope`);
    assert.equal(alert.container_runtime, alert.container_id ? 'docker' : null);
    assert.ok(alert.pid > 0 && alert.ppid > 0);
    assert.equal(alert.user, alert.uid === 65534 ? 'nobody' : 'root');
  }
  assert.deepEqual(lines[1].argv, ['cat', '/etc/shadow']);
  assert.equal(lines[1].priority, 'critical');
  assert.deepEqual(lines[3].argv, ['id', '-u']);
  assert.deepEqual(lines[4].argv, ['echo', ...manyArgs], 'the full argv');
  assert.equal(lines[4].args_truncated, false);
  assert.equal(lines[5].args_truncated, true, 'over 4 KiB of arguments are cut and marked');
  assert.deepEqual(lines[5].argv.slice(0, 1), ['echo']);
  // 14 execs in the two cgroups: the 13 commands and id after setpriv.
  assert.deepEqual(summary, {
    summary: { events: 14, alerts: { 'shell in a container': 1, 'reading shadow passwords': 2, 'long listing': 1, 'id as nobody': 1, 'marked echo': 2, 'true ran': 1 }, lost: 0 },
  });
});

test('the shipped rule file parses, and its alternatives are single patterns that match each form', () => {
  const rules = loadAuditRules(join(ROOT, 'examples', 'audit', 'rules.yaml'));
  const shadow = rules.find((r) => r.name === 'reading shadow passwords')!;
  const netcat = rules.find((r) => r.name === 'listening netcat')!;
  const event = (filename: string, argv: string[]): ExecContext => ({ pid: 1, ppid: 0, uid: 0, gid: 0, cgroupId: 1n, comm: 'x', filename, argv, argsTruncated: false, cgroup: '/', container: undefined });
  for (const file of ['/etc/shadow', '/etc/gshadow', '/etc/shadow-']) assert.equal(ruleMatches(shadow, event('/usr/bin/cat', ['cat', file])), true, file);
  assert.equal(ruleMatches(shadow, event('/usr/bin/cat', ['cat', '/etc/passwd'])), false);
  assert.equal(ruleMatches(netcat, event('/usr/bin/nc.openbsd', ['nc', '-lvp', '4444'])), true);
  assert.equal(ruleMatches(netcat, event('/usr/bin/nc.openbsd', ['nc', 'example.com', '80'])), false);
});
