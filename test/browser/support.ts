// Bundling for the browser as an application's bundler would, from the
// TypeScript sources: package.json's "browser" field and its exports'
// "browser" conditions, with each ./dist/*.js path mapped to its src/*.ts.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, type Metafile, type Plugin, build } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Manifest {
  browser?: Record<string, string>;
  exports: Record<string, { browser?: string; default: string }>;
}

const distToSource = (distPath: string): string => {
  const match = /^\.\/dist\/(.+)\.js$/.exec(distPath);
  if (match === null) throw new Error(`package.json: ${distPath} is not a ./dist/*.js file`);
  return join(ROOT, 'src', `${match[1]}.ts`);
};

/** Resolves `tsbpf` and `tsbpf/AREA` through the exports map (browser condition first) and applies the "browser" field. */
export function browserFieldPlugin(): Plugin {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const replacements = new Map(Object.entries(manifest.browser ?? {}).map(([from, to]) => [distToSource(from), distToSource(to)]));
  return {
    name: 'package-browser-field',
    setup(builder) {
      builder.onResolve({ filter: /^tsbpf(\/[\w-]+)?$/ }, (args) => {
        const entry = manifest.exports[args.path === 'tsbpf' ? '.' : `.${args.path.slice('tsbpf'.length)}`];
        if (entry === undefined) return { errors: [{ text: `package.json exports no '${args.path}'` }] };
        return { path: distToSource(entry.browser ?? entry.default) };
      });
      builder.onResolve({ filter: /\.ts$/ }, (args) => {
        const path = resolve(args.resolveDir, args.path);
        const replacement = replacements.get(path);
        return replacement === undefined ? undefined : { path: replacement };
      });
    },
  };
}

/** Bundles `entry` (a file, or source text importing tsbpf) for the browser; returns the code and the sources it took in. */
export async function bundleForBrowser(entry: { file: string } | { source: string }, options: Partial<BuildOptions> = {}): Promise<{ code: string; inputs: string[] }> {
  const result = await build({
    ...('file' in entry ? { entryPoints: [entry.file] } : { stdin: { contents: entry.source, resolveDir: ROOT, loader: 'ts' } }),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [browserFieldPlugin()],
    metafile: true,
    ...options,
  });
  const metafile = result.metafile as Metafile;
  return { code: result.outputFiles![0]!.text, inputs: Object.keys(metafile.inputs).map((p) => relative(ROOT, resolve(ROOT, p))) };
}
