#!/usr/bin/env node
// Runs every *.test.ts in the repo (or those under the paths given) with node's test runner,
// TypeScript loaded through tsx. Node 20's runner has no .ts globbing, hence this file.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', '.git', '.tern', 'bench', 'tests/artifacts']);

function collect(dir, out) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (SKIP.has(entry) || SKIP.has(relative(root, path))) continue;
    const stat = statSync(path);
    if (stat.isDirectory()) collect(path, out);
    else if (entry.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets : ['packages', 'services', 'apps', 'tests'])
  .flatMap((target) =>
    statSync(join(root, target)).isDirectory() ? collect(join(root, target), []) : [target],
  )
  .sort();

if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-timeout=180000', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
