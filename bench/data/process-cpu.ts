/**
 * CPU time of processes, for the data benchmark's per-request costs: one process (all its
 * threads), and every PostgreSQL process on the machine (the postmaster's cutime/cstime holds
 * its ended backends), which is not in this process's tree and would otherwise count as noise.
 */
import { readdirSync, readFileSync } from 'node:fs';

const MS_PER_TICK = 10;

function statFields(pid: string | number): { comm: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // After "pid (comm) ": state(3) ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based overall.
    return { comm, fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
  } catch {
    return undefined;
  }
}

/** utime + stime of one process, every thread, in ms. */
export function processCpuMs(pid: number): number {
  const stat = statFields(pid);
  return stat ? (Number(stat.fields[11]) + Number(stat.fields[12])) * MS_PER_TICK : 0;
}

/** utime + stime + cutime + cstime of every process named `postgres`, in ms. */
export function postgresCpuMs(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statFields(entry);
    if (stat?.comm !== 'postgres') continue;
    const [utime, stime, cutime, cstime] = stat.fields.slice(11, 15).map(Number);
    ticks += (utime ?? 0) + (stime ?? 0) + (cutime ?? 0) + (cstime ?? 0);
  }
  return ticks * MS_PER_TICK;
}
