import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface Child {
  process: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves once the process has exited and all its output has been read. */
  closed: Promise<void>;
}

/** Runs `fixtures/<name>` in its own Node process, the way the runtime would run a worker. */
export function spawnFixture(name: string, args: string[]): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(`fixtures/${name}`, import.meta.url)), ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { process: child, lines, closed };
}
