// OpenID Connect provider test peer for Trestle's test suite.
//
// A real oidc-provider instance on plain-http loopback with no interactive UI: the interaction
// step logs in the account named by the `login_hint` authorization parameter (matched by email
// or sub) and grants whatever scopes/claims were requested. Test-control endpoints:
//
//   GET  /__test/health          -> 200 {"ok": true, "jwks_requests": N}
//   POST /__test/mode {"mode":M} -> tampers the id_token of subsequent token responses until
//                                   the mode is set back to "normal" (see TAMPER below)
//
// Environment:
//   PORT         port to listen on (127.0.0.1), required
//   OIDC_CONFIG  JSON {"clients":[{client_id, client_secret, redirect_uris, ...}],
//                      "accounts":[{sub, email, email_verified, name, ...}],
//                      "signing_key": <optional private RSA JWK>}
//   OIDC_EXIT_ON_STDIN_EOF=1  exit when stdin closes (the Python helper sets this so a killed
//                             test run never leaves an orphaned peer behind)
//
// Prints exactly one line `READY <issuer>` on stdout once listening.

import { randomBytes, randomUUID } from 'node:crypto';

import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import Provider from 'oidc-provider';

function die(message) {
  process.stderr.write(`oidc test peer: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) die('env PORT must be a TCP port');

let config;
try {
  config = JSON.parse(process.env.OIDC_CONFIG ?? '');
} catch (err) {
  die(`env OIDC_CONFIG must be JSON (${err.message})`);
}
const accounts = config.accounts ?? [];
const clients = config.clients ?? [];
if (!Array.isArray(accounts) || !Array.isArray(clients) || clients.length === 0) {
  die('OIDC_CONFIG needs "clients" (non-empty list) and "accounts" (list)');
}
for (const account of accounts) {
  if (typeof account.sub !== 'string' || !account.sub) die('every account needs a string "sub"');
}

const issuer = `http://127.0.0.1:${port}`;

// ----------------------------------------------------------------------------- signing keys
async function newRsaKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

const signingJwk = config.signing_key
  ? { alg: 'RS256', use: 'sig', kid: 'test-peer-key', ...config.signing_key }
  : await newRsaKey(`test-peer-${randomUUID()}`);
if (signingJwk.kty !== 'RSA' || !signingJwk.d) die('signing_key must be a private RSA JWK');
const signingKey = await importJWK(signingJwk, 'RS256');
// For `other_key`: a different key that claims to be the real one (same kid).
const impostorKey = await importJWK(await newRsaKey(signingJwk.kid), 'RS256');
// For `rotated_key`: a new key the provider starts publishing (and signing with) mid-run.
const rotatedJwk = await newRsaKey(`test-peer-rotated-${randomUUID()}`);
const rotatedKey = await importJWK(rotatedJwk, 'RS256');
const { d, p, q, dp, dq, qi, ...rotatedPublicJwk } = rotatedJwk;
// For `unknown_kid`: a key the provider never publishes.
const unpublishedJwk = await newRsaKey(`test-peer-unpublished-${randomUUID()}`);
const unpublishedKey = await importJWK(unpublishedJwk, 'RS256');

// ----------------------------------------------------------------------------- accounts
function findAccountByHint(hint) {
  return accounts.find((a) => a.email === hint || a.sub === hint);
}

async function findAccount(ctx, sub) {
  const account = accounts.find((a) => a.sub === sub);
  if (!account) return undefined;
  return {
    accountId: account.sub,
    // The provider filters these down to what the granted scopes/claims allow.
    async claims() {
      return { ...account, sub: account.sub };
    },
  };
}

// ----------------------------------------------------------------------------- provider
const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted too
    id_token_signed_response_alg: 'RS256',
    ...c,
  })),
  findAccount,
  jwks: { keys: [signingJwk] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale'],
  },
  scopes: ['openid', 'email', 'profile'],
  // Put the scope-derived claims (email, name, ...) into the id_token, not only /me.
  conformIdTokenClaims: false,
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    userinfo: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
  },
  clientBasedCORS: () => false,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    Grant: 86400,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
  },
  // Plain-text errors, so a failing test shows the reason rather than an HTML page.
  async renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `oidc test peer error\n${Object.entries(out)
      .map(([key, value]) => `${key}: ${value}`)
      .join('\n')}\n`;
  },
});

// ----------------------------------------------------------------------------- id_token tampering
const NOW = () => Math.floor(Date.now() / 1000);
const TAMPER = {
  normal: null,
  wrong_issuer: async (claims, header) => sign({ ...claims, iss: 'http://127.0.0.1:9/wrong-issuer' }, header),
  other_key: async (claims, header) => sign(claims, header, impostorKey),
  wrong_nonce: async (claims, header) => sign({ ...claims, nonce: `wrong-${randomUUID()}` }, header),
  wrong_audience: async (claims, header) => sign({ ...claims, aud: 'some-other-client' }, header),
  expired: async (claims, header) => sign({ ...claims, iat: NOW() - 7200, exp: NOW() - 3600 }, header),
  // Unsigned: {"alg": "none"} and an empty signature.
  alg_none: async (claims) => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`,
  // Signed with HMAC, keyed by the client secret (a relying party must not accept it).
  // Signed by a newly rotated key, which /jwks publishes while this mode is on.
  rotated_key: async (claims, header) => sign(claims, { ...header, kid: rotatedJwk.kid }, rotatedKey),
  // Signed by a key whose kid /jwks never lists.
  unknown_kid: async (claims, header) => sign(claims, { ...header, kid: unpublishedJwk.kid }, unpublishedKey),
  hs256: async (claims) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: signingJwk.kid })
      .sign(new TextEncoder().encode(clients[0].client_secret)),
};
const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
let mode = 'normal';

async function sign(claims, header, key = signingKey) {
  return new SignJWT(claims).setProtectedHeader({ kid: signingJwk.kid, ...header, alg: 'RS256' }).sign(key);
}
let jwksRequests = 0;

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

// ----------------------------------------------------------------------------- middleware
// provider.use() inserts before oidc-provider's own router, so this wraps every request.
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/health' && ctx.method === 'GET') {
    ctx.body = { ok: true, issuer, mode, jwks_requests: jwksRequests };
    return;
  }

  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    let body;
    try {
      body = await readJson(ctx);
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'body must be JSON {"mode": "..."}' };
      return;
    }
    if (!Object.hasOwn(TAMPER, body.mode)) {
      ctx.status = 400;
      ctx.body = { error: `unknown mode ${JSON.stringify(body.mode)}`, modes: Object.keys(TAMPER) };
      return;
    }
    mode = body.mode;
    ctx.body = { mode };
    return;
  }

  const interactionMatch = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (interactionMatch && ctx.method === 'GET') {
    await autoInteraction(ctx);
    return;
  }

  await next();

  if (ctx.path === '/jwks' && ctx.status === 200) {
    jwksRequests += 1;
    if (mode === 'rotated_key') ctx.body = { keys: [...ctx.body.keys, rotatedPublicJwk] };
  }
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && TAMPER[mode]) {
    const idToken = ctx.body.id_token;
    ctx.body = { ...ctx.body, id_token: await TAMPER[mode](decodeJwt(idToken), decodeProtectedHeader(idToken)) };
  }
});

async function autoInteraction(ctx) {
  const interaction = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = interaction;
  let result;

  if (prompt.name === 'login') {
    const hint = params.login_hint;
    const account = hint ? findAccountByHint(hint) : undefined;
    if (!account) {
      ctx.status = 400;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = hint
        ? `oidc test peer: no account has email or sub equal to login_hint=${JSON.stringify(hint)}; `
          + `known: ${accounts.map((a) => a.email ?? a.sub).join(', ')}\n`
        : 'oidc test peer: the authorization request needs a login_hint (an account email or sub)\n';
      return;
    }
    result = { login: { accountId: account.sub } };
  } else if (prompt.name === 'consent') {
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { details } = prompt;
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    result = { consent: interaction.grantId ? {} : { grantId } };
  } else {
    ctx.status = 500;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `oidc test peer: unsupported interaction prompt ${prompt.name}\n`;
    return;
  }

  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.redirect(returnTo);
  ctx.status = 303;
}

// ----------------------------------------------------------------------------- listen
if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (err) => die(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
