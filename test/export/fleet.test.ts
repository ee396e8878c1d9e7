import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { COMMANDS } from '../../src/cli/commands.ts';
import { METRIC_NAMESPACE, parseExporterConfig } from '../../src/export/index.ts';
import { ROOT, skipWithoutCommand } from '../support/env.ts';
import { dashboardExpressions } from './support.ts';

const deploy = (...parts: string[]): string => join(ROOT, 'deploy', ...parts);
const MANIFEST = deploy('kubernetes', 'tsbpf-exporter.yaml');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };

function manifests(): Manifest[] {
  return parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((doc) => {
    assert.equal(doc.errors.length, 0, String(doc.errors[0]));
    return doc.toJS() as Manifest;
  });
}

/** The kubernetes-models class (its ajv validator is generated from the Kubernetes OpenAPI schema) and its TypeScript interface, by kind. */
const KINDS: Record<string, { model: new (data: never) => { validate(): void }; module: string; type: string }> = {
  Namespace: { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  ConfigMap: { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  DaemonSet: { model: DaemonSet, module: 'kubernetes-models/apps/v1/DaemonSet', type: 'IDaemonSet' },
  Service: { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
};

/**
 * The schema check above accepts unknown fields (as kubeconform does without
 * -strict); a misspelt field (hostPid) would be silently ignored by the API
 * server. TypeScript's excess-property check against the same package's
 * interfaces rejects them: each manifest becomes a typed literal, compiled in memory.
 */
function unknownFieldErrors(documents: Manifest[]): string[] {
  const file = join(ROOT, 'test', 'export', '__manifests__.ts');
  const imports = [...new Set(documents.map((d) => d.kind))].map((kind) => `import type { ${KINDS[kind]!.type} } from '${KINDS[kind]!.module}';`);
  const source = [...imports, ...documents.map((d, i) => `export const m${i}: ${KINDS[d.kind]!.type} = ${JSON.stringify(d)};`)].join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('the Kubernetes manifests parse as YAML and validate against the Kubernetes schema, unknown fields included', () => {
  const documents = manifests();
  assert.deepEqual(
    documents.map((d) => d.kind),
    ['Namespace', 'ConfigMap', 'DaemonSet', 'Service'],
  );
  for (const document of documents) {
    const kind = KINDS[document.kind];
    assert.ok(kind, `no validator for ${document.kind}`);
    assert.doesNotThrow(() => new kind.model(document as never).validate(), `${document.kind} ${document.metadata.name}`);
  }
  assert.deepEqual(unknownFieldErrors(documents), []);

  // The checks can fail: a wrong type and a misspelt field are caught.
  const broken = structuredClone(documents[2]!) as unknown as { spec: { template: { spec: Record<string, unknown> & { containers: Array<{ ports: Array<Record<string, unknown>> }> } } } };
  broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'metrics';
  assert.throws(() => new DaemonSet(broken as never).validate(), /containerPort must be integer/);
  const misspelt = structuredClone(documents[2]!) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  misspelt.spec.template.spec.hostPid = true;
  assert.match(unknownFieldErrors([misspelt as unknown as Manifest]).join('\n'), /'"hostPid"' does not exist in type 'IPodSpec'/);
});

test('the DaemonSet runs the exporter privileged, in the host PID namespace, with bpffs and tracefs, on every node', () => {
  const daemonSet = manifests().find((d) => d.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { hostPID: boolean; tolerations: Array<{ operator: string }>; containers: Array<{ args: string[]; securityContext: { privileged: boolean }; volumeMounts: Array<{ name: string; mountPath: string }>; ports: Array<{ containerPort: number }> }>; volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string } }> } } };
  };
  const pod = daemonSet.spec.template.spec;
  assert.equal(pod.hostPID, true);
  assert.ok(pod.tolerations.some((t) => t.operator === 'Exists'));
  const [container] = pod.containers;
  assert.equal(container!.securityContext.privileged, true);
  assert.equal(container!.ports[0]!.containerPort, 9435);
  const hostPathOf = (mountPath: string): string | undefined => {
    const mount = container!.volumeMounts.find((m) => m.mountPath === mountPath);
    return pod.volumes.find((v) => v.name === mount?.name)?.hostPath?.path;
  };
  assert.equal(hostPathOf('/sys/fs/bpf'), '/sys/fs/bpf');
  assert.equal(hostPathOf('/sys/kernel/tracing'), '/sys/kernel/tracing');

  // The config the pods read is a valid exporter config, and says what deploy/programs/node-activity.yaml says.
  const configMap = manifests().find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
  const configPath = container!.args[container!.args.indexOf('--config') + 1]!;
  assert.ok(configPath.startsWith('/etc/tsbpf/config/'));
  const config = parseExporterConfig(configMap.data[configPath.slice('/etc/tsbpf/config/'.length)]!, configPath);
  const standalone = parseExporterConfig(readFileSync(deploy('programs', 'node-activity.yaml'), 'utf8'), '/etc/tsbpf/programs/node-activity.yaml');
  const shape = (c: typeof config) => c.programs.map((p) => ({ object: p.object, counters: p.counters.map(({ keyPath: _k, ...rest }) => rest), histograms: p.histograms.map(({ keyPath: _k, ...rest }) => rest) }));
  assert.deepEqual(shape(config), shape(standalone));
});

test('the Dockerfile builds what exists and runs the exporter command', () => {
  const dockerfile = readFileSync(deploy('Dockerfile'), 'utf8');
  for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(\S+(?: \S+)*) \S+$/gm)) {
    for (const path of source!.split(' ')) assert.ok(existsSync(join(ROOT, path)), `COPY source ${path} exists`);
  }
  const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)![1]!) as string[];
  assert.deepEqual(entry.slice(0, 2), ['node', '/opt/tsbpf/dist/cli/main.js']);
  assert.ok(COMMANDS[entry[2]!], `'${entry[2]}' is a tsbpf command`);
  assert.match(dockerfile, /^EXPOSE 9435$/m);
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
  assert.ok(existsSync(deploy('programs', cmd[1]!.replace('/etc/tsbpf/programs/', ''))), 'the default config is one the image ships');
});

test('the Prometheus scrape config passes promtool (with static targets standing in for Kubernetes discovery)', { skip: skipWithoutCommand('promtool', 'apt-get install prometheus') }, (t) => {
  const config = parse(readFileSync(deploy('prometheus', 'scrape-config.yaml'), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> };
  const [job] = config.scrape_configs;
  assert.equal(job!.job_name, 'tsbpf-exporter');
  assert.ok(job!.kubernetes_sd_configs, 'discovers pods through Kubernetes');
  // Debian's Prometheus is built without Kubernetes service discovery, so promtool checks the rest of the job.
  const rest = { ...job! };
  delete rest.kubernetes_sd_configs;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-promtool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, stringify({ ...config, scrape_configs: [{ ...rest, static_configs: [{ targets: ['127.0.0.1:9435'] }] }] }));
  assert.match(execFileSync('promtool', ['check', 'config', file], { encoding: 'utf8' }), /SUCCESS/);
  writeFileSync(file, stringify({ ...config, scrape_configs: [{ ...rest, scrape_timeout: '20s', static_configs: [{ targets: ['127.0.0.1:9435'] }] }] }));
  assert.throws(() => execFileSync('promtool', ['check', 'config', file], { stdio: 'pipe' }), 'promtool rejects a timeout above the interval: the check can fail');
});

test('the Grafana dashboard uses only metrics the exporter and the fleet programs expose', () => {
  const dashboard = JSON.parse(readFileSync(deploy('grafana', 'tsbpf-exporter.json'), 'utf8')) as { uid: string; templating: { list: Array<{ name: string }> }; panels: Array<{ id: number; gridPos: object; targets: unknown[] }> };
  assert.equal(dashboard.uid, 'tsbpf-exporter');
  assert.deepEqual(dashboard.templating.list.map((v) => v.name), ['datasource', 'node']);
  assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
  const program = parseExporterConfig(readFileSync(deploy('programs', 'node-activity.yaml'), 'utf8'), '/x/node-activity.yaml').programs[0]!;
  const exposed = new Set([
    ...program.counters.map((c) => `${METRIC_NAMESPACE}_${c.name}`),
    ...program.histograms.flatMap((h) => ['_bucket', '_sum', '_count'].map((s) => `${METRIC_NAMESPACE}_${h.name}${s}`)),
    ...['enabled_configs', 'ebpf_program_info', 'ebpf_program_attached', 'ebpf_program_run_time_seconds_total', 'ebpf_program_run_count_total', 'decoder_errors_total', 'events_total', 'lost_events_total', 'scrape_duration_seconds_bucket'].map((m) => `${METRIC_NAMESPACE}_${m}`),
  ]);
  const { metrics } = dashboardExpressions();
  for (const metric of metrics) assert.ok(exposed.has(metric), `${metric} is exposed`);
});
