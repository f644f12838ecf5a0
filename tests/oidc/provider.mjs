// A real OpenID provider for berth's tests: panva's oidc-provider with fixed accounts.
//
// Environment:
//   OIDC_PORT          port to listen on (127.0.0.1); the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENTS       JSON array of client metadata, e.g.
//                      [{"client_id": "berth", "client_secret": "s", "redirect_uris": ["http://..."]}]
//   OIDC_PROVIDER_DIR  the installed oidc-provider package (default: <repo>/.tools/node_modules/oidc-provider)
//
// Logins go through the built-in devInteractions pages: a login form that takes any
// password for a known account, then a consent form; tests/oidc_server.py drives both.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const port = Number(process.env.OIDC_PORT);
if (!port) throw new Error('OIDC_PORT is required');
const clients = JSON.parse(process.env.OIDC_CLIENTS ?? '[]');
if (clients.length === 0) throw new Error('OIDC_CLIENTS must name at least one client');
const packageDir = process.env.OIDC_PROVIDER_DIR
  ?? fileURLToPath(new URL('../../.tools/node_modules/oidc-provider/', import.meta.url));

// the package is installed under .tools/, which ESM resolution from tests/ would not search
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const { default: Provider } = await import(pathToFileURL(join(packageDir, manifest.main ?? 'index.js')).href);

// Accounts are fixed so tests can assert on claims; groups cover the list and single-string forms.
const ACCOUNTS = {
  alice: {
    name: 'Alice Smith', preferred_username: 'alice', email: 'alice@example.com',
    email_verified: true, groups: ['developers', 'ops-oncall'],
  },
  carol: {
    name: 'Carol Jones', preferred_username: 'carol', email: 'carol@example.com',
    email_verified: true, groups: ['harbor-admins', 'developers'],
  },
  dave: {
    // no "name": exercises the username fallback; one group as a plain string, as some IdPs send it
    preferred_username: 'dave', email: 'dave@example.com', email_verified: false, groups: 'readers',
  },
};

// a fresh signing key per start, so nothing stale can verify by accident
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  // "native" makes loopback redirect URIs match on any port (RFC 8252 7.3), so one provider
  // serves a berth listening wherever the test put it
  clients: clients.map((client) => ({
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  features: { devInteractions: { enabled: true } },
  // PKCE is allowed for confidential clients and checked when sent; not forced, like most IdPs
  pkce: { required: () => false },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600,
    Grant: 600, Session: 600, RefreshToken: 600,
  },
});

// oidc-provider accepts either secret method from any client; Auth0 and Okta refuse the one a
// client is not registered for, and berth must cope with that, so do as they do
const postOnly = new Set(clients
  .filter((client) => client.token_endpoint_auth_method === 'client_secret_post')
  .map((client) => client.client_id));
provider.use(async (ctx, next) => {
  const basic = /^basic (.+)$/i.exec(ctx.get('authorization'))?.[1];
  if (ctx.method === 'POST' && ctx.path === '/token' && basic) {
    const clientId = decodeURIComponent(Buffer.from(basic, 'base64').toString().split(':')[0]);
    if (postOnly.has(clientId)) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client must use client_secret_post' };
      return;
    }
  }
  await next();
});

// don't let one bad request take the test provider down
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
