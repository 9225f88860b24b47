/**
 * A static file server for dist/ on localhost: a few lines of node:http, no dependency. `npm run demo` builds,
 * then runs this and prints the URL; the browser test starts it on a free port.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowser, DIST } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Serves `root` on 127.0.0.1:`port` (0: any free port); resolves with the server and its URL. */
export function serve(root = DIST, port = 0): Promise<{ server: Server; url: string }> {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(base, path === '/' ? 'index.html' : path));
    if (!file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`),
    );
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      ok({ server, url: `http://localhost:${typeof addr === 'object' && addr ? addr.port : port}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const { bytes } = await buildBrowser();
  console.log(`build: dist/sbld-webgpu.js ${(bytes / 1024).toFixed(0)} KiB`);
  serve(DIST, port).then(
    ({ url }) => {
      console.log(`demo: ${url}  (Ctrl-C stops the server)`);
      console.log(`      ${url}?autostart=1&task=gpt&preset=tiny&steps=200&seed=1337&drop=sbld  starts a run without clicks`);
      console.log('      needs a browser with WebGPU: Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu');
    },
    (err: NodeJS.ErrnoException) => {
      console.error(err.code === 'EADDRINUSE' ? `demo: port ${port} is in use; run with PORT=another npm run demo` : `demo: ${err.message}`);
      process.exit(1);
    },
  );
}
