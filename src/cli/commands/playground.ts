import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, unknownOption } from '../command.ts';

const usage = `usage: tsbpf playground [--port N] [--host ADDR] [--dir DIR]

Serves the playground (playground/dist, built with \`npm run build:playground\`):
a web page that assembles, verifies, runs and steps through BPF programs
in the browser. Nothing runs on the server: it only sends the static files.
Stops on Ctrl-C.

  --port N       port to listen on (default 8080; 0 picks a free one)
  --host ADDR    address to listen on (default 127.0.0.1)
  --dir DIR      serve this build directory instead
`;

export class PlaygroundServeError extends TsbpfError {
  override name = 'PlaygroundServeError';
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** playground/dist of this package, from src/cli/commands or dist/cli/commands. */
export function defaultPlaygroundDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'playground', 'dist');
}

/** An HTTP server for the files under `root` (GET and HEAD only; nothing outside `root`). */
export function playgroundServer(root: string): Server {
  const base = resolve(root);
  if (!existsSync(join(base, 'index.html'))) throw new PlaygroundServeError(`${base} has no index.html: build the playground first (npm run build:playground)`);
  return createServer((request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      response.writeHead(400).end('bad path\n');
      return;
    }
    const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
    if ((file !== base && !file.startsWith(base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = readFileSync(file);
    response.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      // Hashed asset names never change; the page and the service worker must be revalidated.
      'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
}

async function run(args: string[], io: CliIo): Promise<number> {
  let port = 8080;
  let host = '127.0.0.1';
  let dir = defaultPlaygroundDir();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--port') {
      const text = args[++i];
      port = Number(text);
      if (text === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port needs a port number 0..65535, got '${text ?? ''}'`);
    } else if (arg === '--host') {
      const text = args[++i];
      if (text === undefined || text === '') throw new UsageError('--host needs an address');
      host = text;
    } else if (arg === '--dir') {
      const text = args[++i];
      if (text === undefined) throw new UsageError('--dir needs a directory');
      dir = text;
    } else throw unknownOption(arg);
  }
  const server = playgroundServer(dir);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new PlaygroundServeError(`cannot listen on ${host}:${port}: ${error.code ?? error.message}`)));
    server.listen(port, host, resolveListen);
  });
  const address = server.address();
  const shown = typeof address === 'object' && address !== null ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/` : String(address);
  io.stdout(`tsbpf playground: ${shown}\n`);
  await new Promise<void>((stop) => {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await new Promise<void>((closed) => server.close(() => closed()));
  return 0;
}

export const command: CliCommand = { name: 'playground', summary: 'serve the playground: assemble, verify, run and step through BPF programs in the browser', usage, run };
