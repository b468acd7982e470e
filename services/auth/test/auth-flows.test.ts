import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { waitFor } from '@tern/testing';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type Client,
  type Shape,
  type TestInfrastructure,
} from './auth-test-host';

const GRACE_MS = 1_000;

for (const shape of ['embedded', 'production'] as Shape[]) {
  describe(`auth flows (${shape})`, () => {
    let infrastructure: TestInfrastructure;
    let host: AuthTestHost;
    let api: Client;
    const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
      api.call(init.method ?? 'GET', path, {
        token: host.adminKey,
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
    const mailTo = async (email: string, count = 1) => {
      let items: { text: string; subject: string }[] = [];
      await waitFor(async () => {
        items = (await admin(`/v1/admin/mail?to=${encodeURIComponent(email)}`)).body.items;
        return items.length >= count;
      });
      const text = items[items.length - 1]?.text ?? '';
      const token = /\n {2}([A-Za-z0-9_-]{43})\n/.exec(text)?.[1];
      assert.ok(token, `a code in the mail: ${text}`);
      return token;
    };

    before(async () => {
      infrastructure = await createTestInfrastructure(shape);
      host = await startAuthHost(infrastructure, { TERN_AUTH_REFRESH_GRACE_MS: String(GRACE_MS) });
      api = client(host.url);
    });
    after(async () => {
      await host?.close();
      await infrastructure?.cleanup();
    });

    it('signs up with a normalised email, answers tokens that work, and refuses the same address in any case', async () => {
      const response = await api.post('/v1/auth/signup', {
        email: '  Mixed.Case@Example.COM ',
        password: 'long enough',
      });
      assert.equal(response.status, 201);
      assert.equal(response.body.user.email, 'mixed.case@example.com');
      assert.equal(response.body.tokenType, 'Bearer');
      assert.ok(response.body.expiresIn > 800 && response.body.expiresIn <= 900);
      const claims = decodeJwt(response.body.accessToken as string);
      assert.equal(claims.sub, response.body.user.id);
      assert.deepEqual(claims.roles, []);
      assert.equal(typeof claims.sid, 'string');
      assert.equal(decodeProtectedHeader(response.body.accessToken as string).alg, 'EdDSA');
      const me = await api.get('/v1/auth/me', response.body.accessToken as string);
      assert.equal(me.status, 200);
      assert.equal(me.body.id, response.body.user.id);
      const again = await api.post('/v1/auth/signup', {
        email: 'MIXED.case@example.com',
        password: 'another one',
      });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'auth/email-taken');
    });

    it('refuses passwords shorter than 8 or longer than 256 characters before hashing', async () => {
      for (const password of ['short', 'x'.repeat(257), '🔒'.repeat(7)]) {
        const response = await api.post('/v1/auth/signup', {
          email: `p${password.length}@example.com`,
          password,
        });
        assert.equal(response.status, 400);
        assert.equal(response.body.code, 'auth/password-policy');
      }
      const longest = await api.post('/v1/auth/signup', {
        email: 'longest@example.com',
        password: '🔒'.repeat(256),
      });
      assert.equal(longest.status, 201, 'counted in characters, not bytes');
    });

    it('answers a wrong password and an unknown email alike, both after one password verification', async () => {
      const account = await api.signup();
      const verifications = async () => {
        const text = await (await fetch(`${host.url}/metrics`)).text();
        const line = text
          .split('\n')
          .find((l) => l.startsWith('tern_auth_password_hash_seconds_count{') && l.includes('op="verify"'));
        return Number(line?.split(' ').pop() ?? 0);
      };
      const before = await verifications();
      const wrong = await api.post('/v1/auth/login', { email: account.email, password: 'not the password' });
      const afterWrong = await verifications();
      const unknown = await api.post('/v1/auth/login', {
        email: 'nobody-here@example.com',
        password: 'not the password',
      });
      const afterUnknown = await verifications();
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.deepEqual(
        { ...wrong.body, requestId: undefined },
        { ...unknown.body, requestId: undefined },
        'the same problem document',
      );
      assert.equal(afterWrong - before, 1, 'a known account costs one verification');
      assert.equal(afterUnknown - afterWrong, 1, 'an unknown account costs one verification too');
      const right = await api.post('/v1/auth/login', {
        email: account.email.toUpperCase(),
        password: account.password,
      });
      assert.equal(right.status, 200);
      assert.equal(right.body.user.id, account.user.id);
    });

    it('upgrades an anonymous account in place: same id, now with email and password', async () => {
      const anonymous = await api.post('/v1/auth/anonymous', { device: 'Pixel 9' });
      assert.equal(anonymous.status, 201);
      assert.equal(anonymous.body.user.anonymous, true);
      assert.equal(anonymous.body.user.email, null);
      assert.equal(decodeJwt(anonymous.body.accessToken as string).anon, true);
      const id = anonymous.body.user.id as string;
      const linked = await api.post(
        '/v1/auth/link',
        { email: 'upgraded@example.com', password: 'now permanent' },
        anonymous.body.accessToken as string,
      );
      assert.equal(linked.status, 200);
      assert.equal(linked.body.user.id, id, 'the id, and with it every document the user owns, is kept');
      assert.equal(linked.body.user.anonymous, false);
      assert.equal(decodeJwt(linked.body.accessToken as string).sub, id);
      assert.equal(decodeJwt(linked.body.accessToken as string).anon, undefined);
      const login = await api.post('/v1/auth/login', {
        email: 'upgraded@example.com',
        password: 'now permanent',
      });
      assert.equal(login.body.user.id, id);
      const twice = await api.post(
        '/v1/auth/link',
        { email: 'other@example.com', password: 'now permanent' },
        linked.body.accessToken as string,
      );
      assert.equal(twice.status, 409);
      assert.equal(twice.body.code, 'auth/not-anonymous');
      const stale = await api.post('/v1/auth/refresh', { refreshToken: anonymous.body.refreshToken });
      assert.equal(stale.status, 401, 'the anonymous session ended with the upgrade');
    });

    it('rotates refresh tokens, returns the same pair on a retry within the grace window, and revokes the family on reuse after it', async () => {
      const account = await api.signup();
      const first = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      assert.equal(first.status, 200);
      assert.notEqual(first.body.refreshToken, account.refreshToken);
      const retried = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      assert.equal(retried.status, 200);
      assert.equal(retried.body.refreshToken, first.body.refreshToken, 'same refresh token');
      assert.equal(retried.body.accessToken, first.body.accessToken, 'same access token');
      const second = await api.post('/v1/auth/refresh', { refreshToken: first.body.refreshToken });
      assert.equal(second.status, 200);

      await sleep(GRACE_MS + 200);
      const reused = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      assert.equal(reused.status, 401);
      assert.equal(reused.body.code, 'auth/refresh-reused');
      const descendant = await api.post('/v1/auth/refresh', { refreshToken: second.body.refreshToken });
      assert.equal(descendant.status, 401, 'every token of the family is dead');
      assert.equal(descendant.body.code, 'auth/invalid-refresh-token');
      const me = await api.get('/v1/auth/me', second.body.accessToken as string);
      assert.equal(me.status, 401);
      assert.equal(me.body.code, 'auth/session-ended');
      const audit = await admin(`/v1/admin/audit?userId=${account.user.id}&type=session.refresh-reused`);
      assert.equal(audit.body.items.length, 1);
    });

    it('treats a replay within the grace window as reuse once its successor has been used (no walking the chain)', async () => {
      const account = await api.signup();
      const first = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      const second = await api.post('/v1/auth/refresh', { refreshToken: first.body.refreshToken });
      assert.equal(second.status, 200);
      const walked = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      assert.equal(walked.status, 401);
      assert.equal(walked.body.code, 'auth/refresh-reused');
      const live = await api.post('/v1/auth/refresh', { refreshToken: second.body.refreshToken });
      assert.equal(live.status, 401, 'the family is revoked');
    });

    it('links an anonymous account once, however many links race', async () => {
      const anonymous = await api.post('/v1/auth/anonymous');
      const answers = await Promise.all(
        ['race-a', 'race-b', 'race-c'].map((name) =>
          api.post(
            '/v1/auth/link',
            { email: `${name}-${anonymous.body.user.id as string}@example.com`, password: 'racing along' },
            anonymous.body.accessToken as string,
          ),
        ),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      assert.equal(statuses.filter((status) => status === 200).length, 1, JSON.stringify(statuses));
      assert.ok(statuses.every((status) => status === 200 || status === 401 || status === 409));
      const winner = answers.find((answer) => answer.status === 200);
      const login = await api.post('/v1/auth/login', {
        email: winner?.body.user.email,
        password: 'racing along',
      });
      assert.equal(login.status, 200);
      assert.equal(login.body.user.id, anonymous.body.user.id);
    });

    it('lets exactly one token family survive concurrent refreshes of one token', async () => {
      const account = await api.signup();
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => api.post('/v1/auth/refresh', { refreshToken: account.refreshToken })),
      );
      assert.deepEqual(
        answers.map((answer) => answer.status),
        Array(8).fill(200),
      );
      const successors = new Set(answers.map((answer) => answer.body.refreshToken as string));
      assert.equal(successors.size, 1, 'every retry got the one successor');
      const [successor] = [...successors];
      const next = await api.post('/v1/auth/refresh', { refreshToken: successor });
      assert.equal(next.status, 200);
      const sessions = await api.get('/v1/auth/sessions', next.body.accessToken as string);
      assert.equal(sessions.body.items.length, 1);
    });

    it('logs out one session, lists and revokes sessions, and logs out everywhere', async () => {
      const account = await api.signup();
      const phone = await api.call('POST', '/v1/auth/login', {
        body: { email: account.email, password: account.password, device: 'iPhone 17' },
        headers: { 'user-agent': 'TernApp/1.0 (iOS 26)' },
      });
      const tablet = await api.post('/v1/auth/login', {
        email: account.email,
        password: account.password,
        device: 'iPad',
      });
      const listed = await api.get('/v1/auth/sessions', phone.body.accessToken as string);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.items.length, 3);
      const current = listed.body.items.find((session: { current: boolean }) => session.current);
      assert.equal(current.device, 'iPhone 17');
      assert.equal(current.userAgent, 'TernApp/1.0 (iOS 26)');
      assert.ok(current.createdAt && current.lastUsedAt);

      const tabletSession = decodeJwt(tablet.body.accessToken as string).sid as string;
      const removed = await api.del(`/v1/auth/sessions/${tabletSession}`, phone.body.accessToken as string);
      assert.equal(removed.status, 200);
      assert.equal(
        (await api.post('/v1/auth/refresh', { refreshToken: tablet.body.refreshToken })).status,
        401,
      );
      const other = await api.signup();
      const foreign = await api.del(
        `/v1/auth/sessions/${decodeJwt(other.accessToken).sid as string}`,
        phone.body.accessToken as string,
      );
      assert.equal(foreign.status, 404, "another user's session cannot be touched");
      assert.equal((await api.post('/v1/auth/refresh', { refreshToken: other.refreshToken })).status, 200);

      const logout = await api.post('/v1/auth/logout', undefined, phone.body.accessToken as string);
      assert.equal(logout.status, 200);
      assert.equal(
        (await api.post('/v1/auth/refresh', { refreshToken: phone.body.refreshToken })).status,
        401,
      );
      assert.equal(
        (await api.get('/v1/auth/me', phone.body.accessToken as string)).body.code,
        'auth/session-ended',
      );

      const all = await api.post('/v1/auth/logout-all', undefined, account.accessToken);
      assert.equal(all.status, 200);
      assert.equal(all.body.revoked, 1, 'the first session was the last one live');
      assert.equal((await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken })).status, 401);
    });

    it('changes display fields with PATCH /me and refuses privilege fields', async () => {
      const account = await api.signup();
      const changed = await api.patch(
        '/v1/auth/me',
        { displayName: 'Ann', locale: 'en-GB' },
        account.accessToken,
      );
      assert.equal(changed.status, 200);
      assert.equal(changed.body.displayName, 'Ann');
      assert.equal(changed.body.locale, 'en-GB');
      for (const body of [
        { roles: ['admin'] },
        { displayName: 'Ann', roles: ['admin'] },
        { emailVerified: true },
        { id: 'x' },
      ]) {
        const refused = await api.patch('/v1/auth/me', body, account.accessToken);
        assert.equal(refused.status, 400, JSON.stringify(body));
      }
      const me = await api.get('/v1/auth/me', account.accessToken);
      assert.deepEqual(me.body.roles, []);
      assert.equal(me.body.emailVerified, false);
    });

    it('verifies an email with a single-use code sent through the queue', async () => {
      const account = await api.signup();
      const requested = await api.post('/v1/auth/verify-email/request', undefined, account.accessToken);
      assert.equal(requested.status, 202);
      const token = await mailTo(account.email);
      const confirmed = await api.post('/v1/auth/verify-email/confirm', { token });
      assert.equal(confirmed.status, 200);
      assert.equal((await api.get('/v1/auth/me', account.accessToken)).body.emailVerified, true);
      const again = await api.post('/v1/auth/verify-email/confirm', { token });
      assert.equal(again.status, 400);
      assert.equal(again.body.code, 'auth/invalid-one-time-token');
      const already = await api.post('/v1/auth/verify-email/request', undefined, account.accessToken);
      assert.equal(already.body.code, 'auth/already-verified');
    });

    it('resets a password by mail, ending every session, without revealing which addresses exist', async () => {
      const account = await api.signup();
      const unknown = await api.post('/v1/auth/password-reset/request', {
        email: 'no-such-user@example.com',
      });
      assert.equal(unknown.status, 202);
      const known = await api.post('/v1/auth/password-reset/request', { email: account.email });
      assert.equal(known.status, 202);
      assert.deepEqual(unknown.body, known.body);
      const token = await mailTo(account.email);
      const weak = await api.post('/v1/auth/password-reset/confirm', { token, password: 'short' });
      assert.equal(weak.body.code, 'auth/password-policy');
      const reset = await api.post('/v1/auth/password-reset/confirm', { token, password: 'a brand new one' });
      assert.equal(reset.status, 200);
      assert.equal((await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken })).status, 401);
      assert.equal(
        (await api.post('/v1/auth/login', { email: account.email, password: account.password })).status,
        401,
      );
      assert.equal(
        (await api.post('/v1/auth/login', { email: account.email, password: 'a brand new one' })).status,
        200,
      );
      const reuse = await api.post('/v1/auth/password-reset/confirm', { token, password: 'yet another one' });
      assert.equal(reuse.status, 400);
      const mails = (await admin('/v1/admin/mail?to=no-such-user%40example.com')).body.items;
      assert.equal(mails.length, 0);
    });

    it('rotates signing keys: new tokens use the new key, tokens signed by the old one keep working', async () => {
      const account = await api.signup();
      const oldKid = decodeProtectedHeader(account.accessToken).kid;
      const rotated = await admin('/v1/admin/auth/keys/rotate', { method: 'POST' });
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.kid, oldKid);
      const jwks = await api.get('/.well-known/jwks.json');
      const kids = jwks.body.keys.map((key: { kid: string }) => key.kid);
      assert.ok(kids.includes(oldKid) && kids.includes(rotated.body.kid), 'both keys are published');
      assert.ok(
        jwks.body.keys.every((key: Record<string, unknown>) => key.d === undefined),
        'no private part',
      );
      assert.equal((await api.get('/v1/auth/me', account.accessToken)).status, 200);
      const fresh = await api.post('/v1/auth/login', { email: account.email, password: account.password });
      assert.equal(decodeProtectedHeader(fresh.body.accessToken as string).kid, rotated.body.kid);
      assert.equal((await api.get('/v1/auth/me', fresh.body.accessToken as string)).status, 200);
    });

    it('sets roles and claims through the admin API; they reach tokens at the next refresh and grant admin routes', async () => {
      const account = await api.signup();
      assert.equal((await admin(`/v1/admin/users/${account.user.id}`)).body.hasPassword, true);
      const asUser = await api.get('/v1/admin/users', account.accessToken);
      assert.equal(asUser.status, 403);
      const reserved = await admin(`/v1/admin/users/${account.user.id}`, {
        method: 'PATCH',
        body: { claims: { sub: 'x' } },
      });
      assert.equal(reserved.body.code, 'auth/invalid-claims');
      const changed = await admin(`/v1/admin/users/${account.user.id}`, {
        method: 'PATCH',
        body: { roles: ['admin', 'editor'], claims: { plan: 'pro' } },
      });
      assert.equal(changed.status, 200);
      assert.deepEqual(changed.body.roles, ['admin', 'editor']);
      const refreshed = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      const claims = decodeJwt(refreshed.body.accessToken as string);
      assert.deepEqual(claims.roles, ['admin', 'editor']);
      assert.equal(claims.plan, 'pro');
      const listed = await api.get(
        `/v1/admin/users?email=${encodeURIComponent(account.email)}`,
        refreshed.body.accessToken as string,
      );
      assert.equal(listed.status, 200, 'a user with the admin role reaches the admin API');
      assert.equal(listed.body.items[0].id, account.user.id);
      const audit = await admin(`/v1/admin/audit?userId=${account.user.id}&type=user.updated-by-admin`);
      assert.deepEqual(audit.body.items[0].details.rolesAfter, ['admin', 'editor']);

      const adminToken = refreshed.body.accessToken as string;
      const demoted = await admin(`/v1/admin/users/${account.user.id}`, {
        method: 'PATCH',
        body: { roles: ['editor'] },
      });
      assert.equal(demoted.status, 200);
      const stale = await api.get('/v1/admin/users', adminToken);
      assert.equal(
        stale.status,
        403,
        'a demoted admin loses the admin API at once, though the token still says admin',
      );
      const selfRestore = await api.patch(
        `/v1/admin/users/${account.user.id}`,
        { roles: ['admin'] },
        adminToken,
      );
      assert.equal(selfRestore.status, 403, 'and cannot restore the role');
      await admin(`/v1/admin/users/${account.user.id}`, {
        method: 'PATCH',
        body: { roles: ['admin', 'editor'] },
      });
      assert.equal((await api.get('/v1/admin/users', adminToken)).status, 200);

      const disabled = await admin(`/v1/admin/users/${account.user.id}`, {
        method: 'PATCH',
        body: { disabled: true },
      });
      assert.equal(disabled.body.disabled, true);
      assert.equal(
        (await api.post('/v1/auth/refresh', { refreshToken: refreshed.body.refreshToken })).status,
        401,
      );
      const login = await api.post('/v1/auth/login', { email: account.email, password: account.password });
      assert.equal(login.body.code, 'auth/account-disabled');
    });

    it('keeps an audit trail of sign-ins with time, user, address and user agent', async () => {
      const account = await api.signup();
      await api.call('POST', '/v1/auth/login', {
        body: { email: account.email, password: 'wrong password!' },
        headers: { 'user-agent': 'AuditAgent/2' },
      });
      await api.post('/v1/auth/login', { email: account.email, password: account.password });
      const audit = await admin(`/v1/admin/audit?userId=${account.user.id}`);
      const types = audit.body.items.map((item: { type: string }) => item.type);
      assert.deepEqual(types, ['user.login', 'user.login-failed', 'user.signup']);
      const failed = audit.body.items[1];
      assert.equal(failed.userAgent, 'AuditAgent/2');
      assert.equal(failed.ip, '127.0.0.1');
      assert.ok(Date.parse(failed.at) > Date.now() - 60_000);
      const page = await admin(`/v1/admin/audit?userId=${account.user.id}&limit=2`);
      assert.equal(page.body.items.length, 2);
      const rest = await admin(
        `/v1/admin/audit?userId=${account.user.id}&limit=2&cursor=${page.body.nextCursor}`,
      );
      assert.deepEqual(
        rest.body.items.map((item: { type: string }) => item.type),
        ['user.signup'],
      );
    });

    it('never writes a password or token into a log line', async () => {
      const password = 'secret-password-in-logs';
      const account = await api.signup(undefined, password);
      await api.post('/v1/auth/login', { email: account.email, password: 'wrong-password-in-logs' });
      const refreshed = await api.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
      await api.post('/v1/auth/verify-email/request', undefined, account.accessToken);
      const code = await mailTo(account.email);
      await api.get('/v1/auth/me', 'not-a-valid-token-at-all');
      const logs = host.rawLogs.join('\n');
      for (const secret of [
        password,
        'wrong-password-in-logs',
        account.accessToken,
        account.refreshToken,
        refreshed.body.refreshToken as string,
        refreshed.body.accessToken as string,
        code,
        host.adminKey,
      ]) {
        assert.ok(!logs.includes(secret), `a secret reached the logs: ${secret.slice(0, 12)}…`);
      }
      assert.ok(host.rawLogs.length > 10, 'there were logs to search');
    });
  });
}
