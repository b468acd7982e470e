#!/usr/bin/env node
// The repo runs from its TypeScript sources with no build step to remember: at each start this
// bundles the CLI and the @tern/* workspace packages with esbuild (~100 ms) and runs the bundle;
// third-party packages load natively from node_modules. Loading every module through a
// TypeScript loader hook instead cost over a second of start-up (see docs/adr/0001).
import { build, stop as stopEsbuild } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
// Inside node_modules so the bundle's absolute imports resolve as in the repo; a read-only
// checkout falls back to the temp dir (imports are absolute paths, so that works too).
function writableDir() {
  for (const dir of [join(root, 'node_modules', '.cache', 'tern'), join(tmpdir(), 'tern-cli')]) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      // try the next one
    }
  }
  throw new Error('tern: no writable directory for the start-up bundle');
}
// One file per process: several processes may start at once from one checkout.
const outfile = join(writableDir(), `cli-${process.pid}-${Date.now()}.mjs`);

// Third-party imports stay imports, pinned to the file each importer would load itself (a
// workspace package may have its own nested version), since the bundle lives elsewhere.
const thirdPartyExternal = {
  name: 'third-party-external',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.path.startsWith('@tern/') || args.pluginData === 'resolving') return undefined;
      const resolved = await builder.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, external: true };
    });
  },
};

await build({
  entryPoints: [join(here, '..', 'src', 'cli.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'error',
  // Resolve third-party packages to the files Node itself would load (no `module` field or
  // condition): they are loaded natively, and a bundler-only ESM build (OpenTelemetry's, with
  // extensionless imports) does not load in Node.
  conditions: [],
  mainFields: ['main'],
  plugins: [thirdPartyExternal],
});
// The esbuild service is a child process (~20 MB); it is not needed once the bundle exists.
stopEsbuild();
process.setSourceMapsEnabled(true);
let runCli;
try {
  ({ runCli } = await import(pathToFileURL(outfile).href));
} finally {
  rmSync(outfile, { force: true });
}
process.exitCode = await runCli(process.argv.slice(2));
