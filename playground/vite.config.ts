// Builds the playground to static files (dist/). tsbpf is imported as the
// package: `tsbpf` and `tsbpf/AREA` resolve through the repository's
// package.json exports (browser condition first) to the TypeScript sources,
// and the "browser" field swaps the Node host for the browser one, as an
// application's bundler does with the published package.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vite';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

interface Manifest {
  browser?: Record<string, string>;
  exports: Record<string, { browser?: string; default: string }>;
}

const distToSource = (distPath: string): string => {
  const match = /^\.\/dist\/(.+)\.js$/.exec(distPath);
  if (match === null) throw new Error(`package.json: ${distPath} is not a ./dist/*.js file`);
  return join(ROOT, 'src', `${match[1]}.ts`);
};

function tsbpfPackage(): Plugin {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const replacements = new Map(Object.entries(manifest.browser ?? {}).map(([from, to]) => [distToSource(from), distToSource(to)]));
  return {
    name: 'tsbpf-package',
    enforce: 'pre',
    resolveId(source, importer) {
      const area = /^tsbpf(\/[\w-]+)?$/.exec(source);
      if (area !== null) {
        const entry = manifest.exports[area[1] === undefined ? '.' : `.${area[1]}`];
        if (entry === undefined) this.error(`package.json exports no '${source}'`);
        return distToSource(entry.browser ?? entry.default);
      }
      if (importer !== undefined && source.endsWith('.ts') && source.startsWith('.')) {
        const replacement = replacements.get(resolve(dirname(importer), source));
        if (replacement !== undefined) return replacement;
      }
      // The trace session takes only the symbolizers from the kernel backend's index; the rest of that index (the FFI, links) is Node-only.
      if (importer === join(ROOT, 'src', 'trace', 'session.ts') && source === '../kernel/index.ts') return join(ROOT, 'src', 'kernel', 'symbolize.ts');
      // The trace front end reads tracefs and runs system() through node: modules, on paths the VM never takes.
      if (source === 'node:fs' || source === 'node:path' || source === 'node:child_process') return join(HERE, 'src', 'node-stubs.ts');
      return undefined;
    },
  };
}

/** Emits sw.js with the list of every built file, so the service worker can cache them all at install. */
function serviceWorker(): Plugin {
  return {
    name: 'playground-service-worker',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = ['./', ...Object.keys(bundle).map((f) => `./${f}`)];
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 12);
      const template = readFileSync(join(HERE, 'src', 'sw-template.js'), 'utf8');
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: template.replace('__FILES__', JSON.stringify(files)).replace('__VERSION__', version) });
    },
  };
}

export default defineConfig({
  root: HERE,
  base: './',
  plugins: [tsbpfPackage(), serviceWorker()],
  build: { outDir: join(HERE, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048, reportCompressedSize: false },
  worker: { format: 'es' },
});
