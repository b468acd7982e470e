#!/usr/bin/env node
// Loads the TypeScript sources through tsx: the repo runs from source, with no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
