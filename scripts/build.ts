// Builds dist/main.js, the one file the image runs: the operator and its dependencies bundled by
// esbuild. Measured (docs/benchmarks.md, "Memory"): loading 1 bundle instead of ~900 modules from
// node_modules takes the idle process from 140 to 107 MiB RSS and its heap from 35 to 15 MiB, and the
// image needs no node_modules. Whitespace and syntax are minified but names are kept, so stack traces
// still read; dist/main.js.map maps them back (node --enable-source-maps).
import { build, type Plugin } from 'esbuild';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { asciiBundle, type SourceMapLike } from './ascii-bundle.ts';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export const distEntry = join(repoRoot, 'dist', 'main.js');

/**
 * The fault suite's hooks (src/testing/) run from src/ only. In the bundle each hook module is replaced
 * by its inert form (`<name>.release.ts` beside it), whose empty functions esbuild drops at every call.
 */
const stripTestHooks: Plugin = {
  name: 'strip-test-hooks',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[/\\]src[/\\]testing[/\\][^/\\.]+\.ts$/ }, (args) => ({
      contents: readFileSync(args.path.replace(/\.ts$/, '.release.ts'), 'utf8'),
      loader: 'ts',
    }));
  },
};

const BUILTIN = new RegExp(
  `^(node:)?(${builtinModules.map((name) => name.replace(/[/]/g, '\\/')).join('|')})$`,
);

/**
 * Node's built-in modules reach the bundle through require() (the banner's createRequire), never through
 * an ESM import. An ESM import of a built-in builds its ESM facade, which reads every export, lazy
 * getters included: `import http from 'node:http'` (client-node's config.js does) reads
 * `http.WebSocket`, which loads and compiles Node's own copy of undici (a 0.7 MiB source) that the
 * operator never uses. Measured: a script that only imports node:http, 58 against 45 MiB RSS; the idle
 * operator, 0.9 MiB less heap after a full GC and the bench's idle RSS 134 → 130 MiB (n=1000, one run
 * each; shared machine). esbuild's CommonJS interop copies exports as getters: a lazy one stays lazy.
 */
const builtinsViaRequire: Plugin = {
  name: 'builtins-via-require',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: BUILTIN }, (args) =>
      args.kind === 'import-statement' ? { path: args.path, namespace: 'builtin-via-require' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'builtin-via-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

export async function buildDist(outDir = join(repoRoot, 'dist')): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: ['src/main.ts'],
    outfile: join(outDir, 'main.js'),
    plugins: [stripTestHooks, builtinsViaRequire],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'external',
    // Licences of the bundled packages go next to the bundle instead of into it.
    legalComments: 'external',
    // Some bundled packages are CommonJS and call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module';const require=__createRequire(import.meta.url);",
    },
    logLevel: 'warning',
    metafile: true,
  });
  // A warning here is typically a dependency the bundle cannot carry (a require() of a computed path).
  if (result.warnings.length > 0)
    throw new Error(`esbuild: ${String(result.warnings.length)} warnings; the bundle may be incomplete`);
  // A pure-ASCII bundle is a one-byte string in V8: half the memory for its source (ascii-bundle.ts).
  const codePath = join(outDir, 'main.js');
  const mapPath = join(outDir, 'main.js.map');
  const ascii = asciiBundle(
    readFileSync(codePath, 'utf8'),
    JSON.parse(readFileSync(mapPath, 'utf8')) as SourceMapLike,
  );
  writeFileSync(codePath, ascii.code);
  writeFileSync(mapPath, JSON.stringify(ascii.map));
  writeFileSync(join(outDir, 'THIRD_PARTY_LICENSES.txt'), licences(Object.keys(result.metafile.inputs)));
}

/** The name, version, licence and licence text of every package that went into the bundle. */
function licences(inputs: string[]): string {
  const packageDirs = new Set<string>();
  for (const input of inputs) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1]) packageDirs.add(match[1]);
  }
  return [...packageDirs]
    .sort()
    .map((dir) => {
      const manifest = JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
        license?: string;
      };
      const file = readdirSync(join(repoRoot, dir)).find((name) => /^(licen[cs]e|copying)/i.test(name));
      const text = file ? readFileSync(join(repoRoot, dir, file), 'utf8') : '';
      return `${manifest.name}@${manifest.version} (${manifest.license ?? 'see package'})\n\n${text.trim()}\n`;
    })
    .join(`\n${'-'.repeat(78)}\n\n`);
}

if (import.meta.main) await buildDist();
