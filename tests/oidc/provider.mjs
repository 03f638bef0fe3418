// An OpenID Certified provider (panva/oidc-provider) for the citizen-login tests, on loopback.
//
// Started by tests/support/certified_oidc.py with one JSON argument:
//   {"port": 0, "clients": [<client metadata>], "accounts": {"<sub>": {<claims>}}, "acrValues": [...]}
// It prints "listening <port>" on stdout once it serves. The provider keeps its defaults where they
// matter to the tests: profile, e-mail and phone claims only at userinfo when an access token is
// issued (conformIdTokenClaims), PKCE required (S256), RFC 9207 `iss` in every authorization
// response, RP-initiated logout. Only the login page is ours: a form naming the account and the
// assurance level the citizen reached (as a national digital ID's login would decide it).
import http from 'node:http';
import { URLSearchParams } from 'node:url';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const accounts = config.accounts || {};

function html(body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test OP</title></head><body>${body}</body></html>`;
}

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

// The issuer names the port, known once the server listens (port 0: the system picks a free one,
// so parallel test processes never race for a port).
function makeProvider(issuer) {
  return new Provider(issuer, {
    clients: config.clients,
    acrValues: config.acrValues || [],
    claims: {
      acr: null,
      auth_time: null,
      sid: null,
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'name_en', 'pid'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
    },
    cookies: { keys: ['test-cookie-key-not-a-secret'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      if (!accounts[sub]) return undefined;
      return { accountId: sub, async claims() { return { sub, ...accounts[sub] }; } };
    },
    async loadExistingGrant(ctx) {
      // First-party clients: no consent page; the grant covers the scopes and claims asked.
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const found = await ctx.oidc.provider.Grant.find(grantId);
        if (found) return found;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile email phone');
      await grant.save();
      return grant;
    },
  });
}

let provider;
let callback;
const server = http.createServer(async (req, res) => {
  const match = /^\/interaction\/([^/?]+)(\/login|\/abort)?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      const asked = (details.params.acr_values || '').split(' ').filter(Boolean);
      const levels = config.acrValues || [];
      const options = levels.map((v) => `<option value="${esc(v)}"${v === asked[0] ? ' selected' : ''}>${esc(v)}</option>`).join('');
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(html(`<h1>Sign in (${esc(details.prompt.name)})</h1>
        <form method="post" action="/interaction/${esc(match[1])}/login">
          <input name="login" placeholder="account">
          <select name="acr"><option value="">(none)</option>${options}</select>
          <button id="sign-in" type="submit">Sign in</button>
        </form>
        <form method="post" action="/interaction/${esc(match[1])}/abort"><button id="cancel" type="submit">Cancel</button></form>`));
      return undefined;
    }
    const form = await readForm(req);
    if (match[2] === '/abort') {
      return await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'cancelled' }, { mergeWithLastSubmission: false });
    }
    if (!accounts[form.login]) {
      res.statusCode = 401;
      res.end(html('unknown account'));
      return undefined;
    }
    const login = { accountId: form.login };
    if (form.acr) login.acr = form.acr;
    return await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.statusCode = 400;
    res.end(html(esc(err.message)));
    return undefined;
  }
});

server.listen(config.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  provider = makeProvider(`http://127.0.0.1:${port}`);
  provider.on('server_error', (ctx, err) => { console.error('server_error', err); });
  callback = provider.callback();
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
