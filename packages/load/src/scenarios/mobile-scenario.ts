import type { Scenario, VirtualUser } from '../scenario';

interface Shared {
  collection: string;
  password: string;
  runId: string;
}

interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

interface UserState {
  accessToken?: string;
  refreshToken?: string;
  registered?: boolean;
  signingIn?: Promise<void>;
  refreshing?: Promise<void>;
  /** Ids of documents this user saw in the feed or wrote. */
  seen?: string[];
}

const COLLECTION = 'load_posts';

/**
 * The user's authorization header, signing in first when it has no token: a sign-up the first
 * time (each run's users are new), a log-in after a lost session. Journeys of one user running at
 * once (two devices) share the one sign-in in flight.
 */
async function session(vu: VirtualUser<Shared>): Promise<Record<string, string> | undefined> {
  const state = vu.state as UserState;
  if (!state.accessToken) {
    state.signingIn ??= signIn(vu, state).finally(() => delete state.signingIn);
    await state.signingIn;
  }
  return state.accessToken ? { authorization: `Bearer ${state.accessToken}` } : undefined;
}

async function signIn(vu: VirtualUser<Shared>, state: UserState): Promise<void> {
  const body = { email: `load-${vu.shared.runId}-${vu.id}@example.com`, password: vu.shared.password };
  let answer = state.registered
    ? await vu.request('login', { method: 'POST', path: '/v1/auth/login', json: body, expect: 200 })
    : await vu.request('signup', { method: 'POST', path: '/v1/auth/signup', json: body, expect: [201, 409] });
  if (answer.status === 409) {
    // Signed up already: an earlier sign-up timed out here after the server had made the account.
    answer = await vu.request('login', { method: 'POST', path: '/v1/auth/login', json: body, expect: 200 });
  }
  const signedIn = answer.status === 200 || answer.status === 201 ? answer.json<TokenPair>() : undefined;
  if (!signedIn?.accessToken) return;
  state.registered = true;
  state.accessToken = signedIn.accessToken;
  state.refreshToken = signedIn.refreshToken;
}

/**
 * Trades the refresh token for a new pair. One user's refreshes are serialised: a refresh token
 * is used up by its first use, and presenting it twice (two journeys of one user at once) would
 * revoke the session as a stolen token.
 */
async function refresh(vu: VirtualUser<Shared>, state: UserState): Promise<void> {
  const previous = state.refreshing ?? Promise.resolve();
  const mine = previous.then(async () => {
    if (!state.refreshToken) return;
    const answer = await vu.request('refresh-token', {
      method: 'POST',
      path: '/v1/auth/refresh',
      json: { refreshToken: state.refreshToken },
      expect: 200,
    });
    const pair = answer.ok ? answer.json<TokenPair>() : undefined;
    if (pair?.accessToken) {
      state.accessToken = pair.accessToken;
      state.refreshToken = pair.refreshToken;
    } else if (answer.status === 401) {
      delete state.accessToken; // The session is gone: sign in again next time.
      delete state.refreshToken;
    }
  });
  state.refreshing = mine;
  await mine;
  if (state.refreshing === mine) delete state.refreshing;
}

/** Forgets a session the server refused (expired, revoked), so the next journey signs in again. */
function refused(vu: VirtualUser<Shared>, status: number): void {
  if (status === 401) delete (vu.state as UserState).accessToken;
}

function remember(vu: VirtualUser<Shared>, ids: string[]): void {
  const state = vu.state as UserState;
  state.seen = [...ids, ...(state.seen ?? [])].slice(0, 50);
}

/**
 * A mobile app's traffic: users open the app and read their feed and a few items (most of the
 * traffic), write and edit posts, refresh their tokens when the app resumes, sometimes ask for
 * an export of their data (a background job), and new users sign up. Each user signs up once
 * and keeps its tokens between journeys. Needs the admin key to create its collection.
 */
export const mobileScenario: Scenario<Shared> = {
  name: 'mobile',
  description:
    'sign in, read the feed and open items, write and edit posts, refresh tokens, enqueue an export',
  async setup({ adminKey, request, log }) {
    if (adminKey) {
      const answer = await request({
        method: 'PUT',
        path: `/v1/admin/collections/${COLLECTION}`,
        headers: { authorization: `Bearer ${adminKey}` },
        json: {
          schema: {
            type: 'object',
            properties: { title: { type: 'string' }, body: { type: 'string' }, likes: { type: 'integer' } },
          },
        },
      });
      if (!answer.ok)
        throw new Error(`creating collection ${COLLECTION}: ${answer.status} ${answer.text.slice(0, 200)}`);
    } else {
      log(`no admin key: collection ${COLLECTION} must exist already (give --admin-key to create it)`);
    }
    return {
      collection: COLLECTION,
      password: 'load-test correct horse battery',
      runId: Date.now().toString(36),
    };
  },
  journeys: [
    {
      name: 'read-feed',
      weight: 60,
      async run(vu) {
        const auth = await session(vu);
        if (!auth) return;
        const feed = await vu.request('list-feed', {
          path: `/v1/data/${vu.shared.collection}?limit=20`,
          headers: auth,
        });
        if (!feed.ok) return refused(vu, feed.status);
        const ids = (feed.json<{ items: { id: string }[] }>()?.items ?? []).map((item) => item.id);
        remember(vu, ids);
        const opened = Math.min(ids.length, 1 + Math.floor(vu.random() * 3));
        for (let index = 0; index < opened; index++) {
          await vu.think([300, 1_500]);
          await vu.request('open-item', {
            path: `/v1/data/${vu.shared.collection}/${ids[index]}`,
            headers: auth,
          });
        }
      },
    },
    {
      name: 'write-post',
      weight: 20,
      async run(vu) {
        const auth = await session(vu);
        if (!auth) return;
        await vu.think([500, 2_000]);
        const created = await vu.request('create-post', {
          method: 'POST',
          path: `/v1/data/${vu.shared.collection}`,
          headers: auth,
          json: { title: `post by ${vu.id}`, body: 'x'.repeat(50 + Math.floor(vu.random() * 400)), likes: 0 },
          expect: 201,
        });
        if (!created.ok) return refused(vu, created.status);
        const id = created.json<{ id: string }>()?.id;
        if (!id) return;
        remember(vu, [id]);
        await vu.think([500, 2_000]);
        await vu.request('update-post', {
          method: 'PATCH',
          path: `/v1/data/${vu.shared.collection}/${id}`,
          headers: auth,
          json: { likes: 1 + Math.floor(vu.random() * 10) },
        });
      },
    },
    {
      name: 'resume-app',
      weight: 15,
      async run(vu) {
        if (!(await session(vu))) return;
        await refresh(vu, vu.state as UserState);
      },
    },
    {
      name: 'export-account',
      weight: 2,
      async run(vu) {
        const auth = await session(vu);
        if (!auth) return;
        const answer = await vu.request('enqueue-export', {
          method: 'POST',
          path: '/v1/jobs',
          headers: auth,
          json: { type: 'account.export', payload: {} },
          expect: [201, 202],
        });
        refused(vu, answer.status);
      },
    },
  ],
};
