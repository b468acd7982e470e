import type { DashboardData, ProcessSnapshot } from './snapshot';

const TIMEOUT_MS = 1_000;

/**
 * What a gateway shows: its own snapshot and every instance's, read from their
 * `/_/dashboard/snapshot` with the admin credential, in parallel, each given a second. An
 * instance that does not answer is listed as unreachable rather than holding the page up.
 */
export async function gatherInstances(
  own: ProcessSnapshot,
  origins: readonly string[],
  adminKey: string | undefined,
): Promise<Pick<DashboardData, 'processes' | 'unreachable'>> {
  const unreachable: { origin: string; error: string }[] = [];
  const read = await Promise.all(
    [...new Set(origins)].map(async (origin) => {
      try {
        const answer = await fetch(`${origin}/_/dashboard/snapshot`, {
          headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {},
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
        return (await answer.json()) as ProcessSnapshot;
      } catch (error) {
        unreachable.push({ origin, error: error instanceof Error ? error.message : String(error) });
        return undefined;
      }
    }),
  );
  return {
    processes: [own, ...read.filter((snapshot): snapshot is ProcessSnapshot => snapshot !== undefined)],
    unreachable,
  };
}
