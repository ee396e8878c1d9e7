/** Shared pieces of the exporter tests: the compiled test program, an OTLP/HTTP receiver, free ports. */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { compileBpf } from '../support/clang.ts';
import { METRIC_NAMESPACE } from '../../src/export/index.ts';
import { ROOT, fixturePath } from '../support/env.ts';

export { parsePrometheusTextFormat };

/** A directory with syscalls.bpf.o (counting only `tgid`'s calls; `extraArgs` for clang) and its ebpf_exporter config; removed by cleanup(). */
export function programDirectory(tgid: number, extraArgs: string[] = []): { dir: string; cleanup: () => void } {
  return compiledProgram(fixturePath('export', 'syscalls.bpf.c'), fixturePath('export', 'syscalls.yaml'), [`-DTARGET_TGID=${tgid}`, ...extraArgs]);
}

/** The fleet example program of deploy/programs (node-wide), compiled beside its config. */
export function fleetProgramDirectory(): { dir: string; cleanup: () => void } {
  return compiledProgram(join(ROOT, 'deploy', 'programs', 'node-activity.bpf.c'), join(ROOT, 'deploy', 'programs', 'node-activity.yaml'), []);
}

function compiledProgram(source: string, config: string, args: string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-export-'));
  copyFileSync(compileBpf(source, { args }), join(dir, basename(source).replace(/\.c$/, '.o')));
  copyFileSync(config, join(dir, basename(config)));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** OTLP/HTTP JSON requests received, by path (/v1/traces, /v1/logs). */
export interface OtlpReceiver {
  url: string;
  requests: Map<string, unknown[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests = new Map<string, unknown[]>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const list = requests.get(request.url ?? '') ?? [];
      list.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      requests.set(request.url ?? '', list);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every `intervalMs` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Every metric name a dashboard expression uses, and the expressions. */
export function dashboardExpressions(): { expressions: string[]; metrics: Set<string> } {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'tsbpf-exporter.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const expressions = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const metrics = new Set(expressions.flatMap((e) => [...e.matchAll(new RegExp(`\\b${METRIC_NAMESPACE}_[a-z0-9_]+`, 'g'))].map((m) => m[0])));
  return { expressions, metrics };
}


/** A query answer of Prometheus' HTTP API. */
export type PromSeries = Array<{ metric: Record<string, string>; value: [number, string] }>;

/**
 * Debian's Prometheus, started on 127.0.0.1 scraping `target` (host:port) every second as job `tsbpf`; stopped and its data
 * removed by `stop()`. `query` runs PromQL through the HTTP API; `log()` is the end of its stderr, for timeouts.
 */
export async function startPrometheus(target: string): Promise<{ query: (promql: string) => Promise<PromSeries>; log: () => string; stop: () => Promise<void> }> {
  const data = mkdtempSync(join(tmpdir(), 'tsbpf-prometheus-'));
  writeFileSync(join(data, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tsbpf\n    static_configs:\n      - targets: ['${target}']\n`);
  const webPort = await freePort();
  const server = spawn('prometheus', [`--config.file=${join(data, 'prometheus.yml')}`, `--storage.tsdb.path=${join(data, 'tsdb')}`, `--web.listen-address=127.0.0.1:${webPort}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  server.stderr.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const query = async (promql: string): Promise<PromSeries> => {
    const response = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { result: PromSeries } };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    return body.data.result;
  };
  const stop = async (): Promise<void> => {
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(data, { recursive: true, force: true });
  };
  return { query, log: () => log, stop };
}

export function getppid(times: number): void {
  for (let i = 0; i < times; i++) void process.ppid;
}

/** pwrite64 calls of these sizes to a scratch file. */
export function pwrites(dir: string, sizes: number[]): void {
  const fd = openSync(join(dir, 'scratch'), 'w');
  try {
    for (const size of sizes) writeSync(fd, new Uint8Array(size), 0, size, 0);
  } finally {
    closeSync(fd);
  }
}
