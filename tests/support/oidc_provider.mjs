// A real OpenID Connect provider for tests: oidc-provider (npm, pinned in package.json) with
// its own plain login page. Started by tests/support/oidc_provider.py:
//
//   node tests/support/oidc_provider.mjs --port N --state DIR
//
// DIR/config.json (read once, at start): {"issuer", "clients": [{client_id, client_secret,
// redirect_uris, post_logout_redirect_uris}], "rotate": bool}.
// DIR/users.json (read again on every account lookup, so a test may change a user's groups
// between logins): {"login": {"password", "email", "email_verified", "name", "groups"}}.
// DIR/keys.json: the RS256 signing key (a private JWK), kept across restarts; a new one (a new
// kid) is made when it is missing or when config.json says "rotate": true.
//
// Authorization code flow only, PKCE (S256) required of every client, client_secret_basic or
// client_secret_post at the token endpoint, RP-initiated logout. The claims of the granted
// scopes are in the ID token as well as at the userinfo endpoint. Consent is granted without
// asking.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: { port: { type: 'string' }, state: { type: 'string' } },
});
if (!args.port || !args.state) {
  console.error('usage: oidc_provider.mjs --port N --state DIR');
  process.exit(2);
}
const port = Number(args.port);
const stateDir = args.state;
const config = JSON.parse(fs.readFileSync(path.join(stateDir, 'config.json'), 'utf8'));

function readUsers() {
  const file = path.join(stateDir, 'users.json');
  if (!fs.existsSync(file)) return {};
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

async function signingKey() {
  const file = path.join(stateDir, 'keys.json');
  if (fs.existsSync(file) && !config.rotate) {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = {
    ...(await exportJWK(privateKey)),
    kid: crypto.randomBytes(12).toString('base64url'),
    alg: 'RS256',
    use: 'sig',
  };
  fs.writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}

const escape = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>
`;
}

function loginPage(uid, login, error) {
  const message = error ? `<p id="error" role="alert">${escape(error)}</p>\n` : '';
  return page('Sign in', `${message}<form method="post" action="/interaction/${escape(uid)}">
<p><label for="login">Login</label>
<input id="login" name="login" type="text" value="${escape(login)}" autocomplete="username" autofocus required></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 65536) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [await signingKey()] },
  cookies: {
    keys: ['dtr-test-oidc-cookie-key-1', 'dtr-test-oidc-cookie-key-2'],
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = page('Sign out', `${form}
<p>Do you want to sign out?</p>
<p><button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button></p>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    const lines = Object.entries(out).map(([key, value]) => `<p>${escape(key)}: ${escape(value)}</p>`);
    ctx.body = page('Error', lines.join('\n'));
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = readUsers()[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const current = readUsers()[sub] ?? user;
        return {
          sub,
          preferred_username: sub,
          name: current.name,
          email: current.email,
          email_verified: current.email_verified,
          groups: current.groups ?? [],
        };
      },
    };
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
  },
});
provider.proxy = false;

// Consent without asking: grant what the prompt says is missing.
async function grantConsent(ctx, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.respond = false;
}

async function interaction(ctx, uid) {
  ctx.set('Cache-Control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt } = details;
  if (prompt.name === 'consent') {
    await grantConsent(ctx, details);
    return;
  }
  if (prompt.name !== 'login') ctx.throw(501, `prompt ${prompt.name} not implemented`);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(uid, details.params.login_hint);
    return;
  }
  const form = await readForm(ctx.req);
  const login = form.get('login') ?? '';
  const password = form.get('password') ?? '';
  const user = Object.hasOwn(readUsers(), login) ? readUsers()[login] : undefined;
  if (!user || typeof user.password !== 'string' || user.password !== password) {
    ctx.status = 200;
    ctx.type = 'html';
    ctx.body = loginPage(uid, login, 'Invalid login or password');
    return;
  }
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, {
    mergeWithLastSubmission: false,
  });
  ctx.respond = false;
}

// Brief request log on stderr, then the interaction pages; everything else is oidc-provider's.
provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
    console.error(`${ctx.method} ${ctx.path} ${status} ${Date.now() - started}ms`);
  }
});
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(ctx.path);
  if (match && (ctx.method === 'GET' || ctx.method === 'POST')) {
    await interaction(ctx, match[1]);
    return;
  }
  await next();
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${config.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
