/**
 * How much of the machine something other than this benchmark used during a phase: the busy CPU
 * time of the whole machine (/proc/stat) minus the CPU time of this process and its descendants
 * (Tern, the probe, the timing processes; reaped ones are in their parent's cutime/cstime). On a
 * shared 2-core box a test suite or a type check running alongside skews every number, so each
 * phase reports it instead of leaving it to be guessed.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSample {
  at: number;
  busyTicks: number;
  stealTicks: number;
  treeTicks: number;
}

const TICKS_PER_SECOND = 100;

function machineTicks(): { busy: number; steal: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal …; irq and softirq are left out, since the
  // loopback traffic's share of them is charged to no process.
  const [user = 0, nice = 0, system = 0, , , , , steal = 0] = fields;
  return { busy: user + nice + system, steal };
}

function treeTicks(root: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After "pid (comm) ": state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based overall.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(
        Number(entry),
        Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
      );
    } catch {
      // The process ended while listing.
    }
  }
  let total = 0;
  for (const [pid, own] of ticks) {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
      if (at === root) {
        total += own;
        break;
      }
    }
  }
  return total;
}

export function sampleCpu(): CpuSample {
  const machine = machineTicks();
  return {
    at: performance.now(),
    busyTicks: machine.busy,
    stealTicks: machine.steal,
    treeTicks: treeTicks(process.pid),
  };
}

/** Percent of one core's time, over a phase, used by other processes and stolen by the hypervisor. */
export interface Noise {
  othersPctOfCore: number;
  stealPctOfCore: number;
}

export function noiseSince(start: CpuSample): Noise {
  const end = sampleCpu();
  const seconds = (end.at - start.at) / 1000;
  const pct = (ticks: number) => Math.round(Math.max(0, ticks / TICKS_PER_SECOND / seconds) * 100);
  return {
    othersPctOfCore: pct(end.busyTicks - start.busyTicks - (end.treeTicks - start.treeTicks)),
    stealPctOfCore: pct(end.stealTicks - start.stealTicks),
  };
}
