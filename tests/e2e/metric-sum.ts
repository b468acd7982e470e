import { parsePrometheusText } from '@tern/load';
import type { TernProcess } from './spawn-tern';

/** The sum of a metric's samples, from a process's `/metrics`, whose labels include every one of `labels`. */
export async function metricSum(
  process: TernProcess,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await (await fetch(`${process.url}/metrics`)).text();
  return parsePrometheusText(text, new Set([name]))
    .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((total, sample) => total + sample.value, 0);
}
