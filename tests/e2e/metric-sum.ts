import type { TernProcess } from './spawn-tern';

/** The sum of a metric's samples, from a process's `/metrics`, whose labels include every one of `labels`. */
export async function metricSum(process: TernProcess, name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`${process.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels.every((label) => line.includes(label))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
