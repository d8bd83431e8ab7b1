// An OpenID provider for the SSO tests: panva's oidc-provider, mounted where Keycloak puts
// a realm (issuer /realms/<realm>, endpoints under /realms/<realm>/protocol/openid-connect/),
// with a small admin API beside it that the tests drive:
//   PUT  /admin/users/<login>   the claims a login gets (email, email_verified, name, groups)
//   POST /admin/rotate          a new signing key, first in the JWKS; the old one stays
//   POST /admin/mutate {kind}   the next token response's ID token is altered (see MUTATIONS)
//   PUT  /admin/clients         the registered clients (oidc-provider client metadata)
// Configuration comes from the environment: IDP_PORT, IDP_REALM, and IDP_KEYS (a file
// holding the signing keys, so that a restarted provider signs with the same ones).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const realm = process.env.IDP_REALM;
const keyFile = process.env.IDP_KEYS;
let clients = [];
const prefix = `/realms/${realm}`;
const issuer = `http://127.0.0.1:${port}${prefix}`;
const base = '/protocol/openid-connect';

const users = new Map();
let keys = [];
let mutation = null;
let previousIdToken = null;
let provider;

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

const now = () => Math.floor(Date.now() / 1000);

// Each one turns a good ID token into one a relying party must refuse.
const MUTATIONS = {
  tamper: (claims) => ({ claims, tamper: true }),
  expired: (claims) => ({ claims: { ...claims, iat: now() - 600, exp: now() - 300 } }),
  future: (claims) => ({ claims: { ...claims, iat: now() + 600, exp: now() + 900 } }),
  audience: (claims) => ({ claims: { ...claims, aud: 'another-client' } }),
  azp: (claims) => ({ claims: { ...claims, aud: [claims.aud, 'another-client'], azp: 'another-client' } }),
  issuer: (claims) => ({ claims: { ...claims, iss: `http://127.0.0.1:${port}/realms/elsewhere` } }),
  nonce: (claims) => ({ claims: { ...claims, nonce: 'not-the-nonce-sent' } }),
  unsigned: (claims) => ({ claims, unsigned: true }),
  foreign_key: (claims) => ({ claims, foreignKey: true }),
  replay: () => ({ replay: true }),
  // Signed with the client's own secret (HS256): what a relying party that lets the token
  // pick its algorithm would take for genuine.
  hs256: (claims) => ({ claims, hmac: true }),
};

async function mutate(idToken, kind) {
  const claims = jose.decodeJwt(idToken);
  const change = MUTATIONS[kind](claims);
  if (change.replay) return previousIdToken;
  if (change.unsigned) {
    return new jose.UnsecuredJWT(change.claims).encode();
  }
  if (change.hmac) {
    const audience = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    const secret = clients.find((c) => c.client_id === audience).client_secret;
    return new jose.SignJWT(change.claims)
      .setProtectedHeader({ alg: 'HS256', kid: keys[0].kid, typ: 'JWT' })
      .sign(new TextEncoder().encode(secret));
  }
  const signer = change.foreignKey ? { ...(await newKey()), kid: keys[0].kid } : keys[0];
  const signed = await new jose.SignJWT(change.claims)
    .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'JWT' })
    .sign(await jose.importJWK(signer, 'RS256'));
  if (!change.tamper) return signed;
  const [header, payload, signature] = signed.split('.');
  const altered = JSON.parse(Buffer.from(payload, 'base64url'));
  altered.email = 'someone.else@example.org';
  return [header, Buffer.from(JSON.stringify(altered)).toString('base64url'), signature].join('.');
}

function build() {
  const built = new Provider(issuer, {
    clients,
    jwks: { keys },
    pkce: { required: () => true, methods: ['S256'] },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    // Keycloak's group mapper adds the groups to every ID token of the client, whatever
    // scope was asked for; here they come with the profile scope, which Tessera asks for.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    conformIdTokenClaims: false,
    clientDefaults: { token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'RS256' },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, ...(users.get(id) ?? {}) }),
    }),
    routes: {
      authorization: `${base}/auth`,
      token: `${base}/token`,
      jwks: `${base}/certs`,
      userinfo: `${base}/userinfo`,
      end_session: `${base}/logout`,
      revocation: `${base}/revoke`,
      introspection: `${base}/token/introspect`,
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
    },
    cookies: { keys: ['test-cookie-key'] },
  });
  built.use(async (ctx, next) => {
    await next();
    if (ctx.path === `${base}/token` && ctx.status === 200 && ctx.body?.id_token) {
      const issued = ctx.body.id_token;
      if (mutation) {
        ctx.body = { ...ctx.body, id_token: await mutate(issued, mutation) };
        mutation = null;
      }
      previousIdToken = issued;
    }
  });
  return built;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString() || '{}';
  return JSON.parse(text);
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function admin(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  if (req.method === 'PUT' && path.startsWith('/admin/users/')) {
    users.set(decodeURIComponent(path.slice('/admin/users/'.length)), await readJson(req));
    return answer(res, 200, { ok: true });
  }
  if (req.method === 'POST' && path === '/admin/rotate') {
    keys = [await newKey(), ...keys];
    writeFileSync(keyFile, JSON.stringify(keys));
    provider = build();
    return answer(res, 200, { kid: keys[0].kid });
  }
  if (req.method === 'POST' && path === '/admin/mutate') {
    const { kind } = await readJson(req);
    if (!(kind in MUTATIONS)) return answer(res, 400, { error: `unknown mutation ${kind}` });
    mutation = kind;
    return answer(res, 200, { ok: true });
  }
  if (req.method === 'PUT' && path === '/admin/clients') {
    clients = await readJson(req);
    provider = build();
    return answer(res, 200, { ok: true });
  }
  return answer(res, 404, { error: 'not found' });
}

if (existsSync(keyFile)) {
  keys = JSON.parse(readFileSync(keyFile, 'utf8'));
} else {
  keys = [await newKey()];
  writeFileSync(keyFile, JSON.stringify(keys));
}
provider = build();

http
  .createServer((req, res) => {
    if (req.url.startsWith('/admin/')) {
      admin(req, res).catch((error) => answer(res, 500, { error: String(error) }));
      return;
    }
    if (req.url === prefix || req.url.startsWith(`${prefix}/`)) {
      req.originalUrl = req.url;
      req.url = req.url.slice(prefix.length) || '/';
      provider.callback()(req, res);
      return;
    }
    answer(res, 404, { error: 'not found' });
  })
  .listen(port, '127.0.0.1', () => {
    console.log(`listening ${issuer}`);
  });
