import type { Scenario } from '../scenario';

/** One GET of a path per arrival: the rate of plain requests, for a health check or any URL. */
export function httpScenario(path: string): Scenario {
  return {
    name: 'http',
    description: `GET ${path} once per arrival`,
    journeys: [{ name: 'get', weight: 1, run: async (vu) => void (await vu.request('GET', { path })) }],
  };
}
