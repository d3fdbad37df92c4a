// A real OpenID Connect provider on loopback for tests (oidc-provider, a certified implementation),
// standing in for CILogon and a university's sign-in page. Used two ways:
//   - Playwright's global setup: `await startOidcProvider({ redirectUris, issuer })`;
//   - Rust tests: `OIDC_REDIRECT_URIS=... node tests/ui/oidc-provider.mjs`, which prints
//     `oidc provider on http://127.0.0.1:PORT issuer ISSUER` and exits when its stdin closes.
// Accounts: nina, omar (no `name` claim, only given/family names), ahmed. `login_hint=<account>`
// signs in at once and `login_hint=refuse` cancels, so tests can walk the flow with plain HTTP.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import Provider, { interactionPolicy } from "oidc-provider";
// Its module-level store, not the per-instance one 9.x gives each Provider by default: rotating keys
// builds a new instance, and sessions, codes and grants must outlive the old one.
import MemoryAdapter from "oidc-provider/lib/adapters/memory_adapter.js";

const IDP = { idp: "https://idp.uni.example.edu.au", idp_name: "Example University" };
const ACCOUNTS = {
  nina: { name: "Nina Newcomer", given_name: "Nina", family_name: "Newcomer", email: "nina@uni.example.edu.au" },
  omar: { given_name: "Omar", family_name: "Okafor", email: "omar@uni.example.edu.au" },
  ahmed: { name: "Ahmed Already", email: "ahmed@uni.example.edu.au" },
};
const CLIENTS = [
  ["aao-export", "aao-export-test-secret"],
  ["someone-else", "someone-else-secret"],
];

function signingKey() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), alg: "RS256", use: "sig" };
}

function findAccount(_ctx, id) {
  if (!Object.hasOwn(ACCOUNTS, id)) return undefined;
  return {
    accountId: id,
    // The provider filters these by the granted scopes (the `claims` map below).
    async claims() {
      return { sub: id, email_verified: true, ...ACCOUNTS[id], ...IDP };
    },
  };
}

// With a session for one account, a request hinting at another must sign in again rather than
// silently answer for the first (a browser's cookie jar outlives one test's account).
function interactionsPolicy() {
  const policy = interactionPolicy.base();
  policy.get("login").checks.push(new interactionPolicy.Check("login_hint_other_account",
    "login_hint names another account than the session's", "login_required", (ctx) => {
      const hint = ctx.oidc.params.login_hint;
      const current = ctx.oidc.session.accountId;
      return Boolean(hint && current && hint !== current && Object.hasOwn(ACCOUNTS, hint));
    }));
  return policy;
}

function buildProvider(issuer, redirectUris, key, behindProxy) {
  const provider = new Provider(issuer, {
    clients: CLIENTS.map(([client_id, client_secret]) => ({
      client_id, client_secret, redirect_uris: redirectUris,
      grant_types: ["authorization_code"], response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    })),
    jwks: { keys: [key] },
    findAccount,
    adapter: (model) => new MemoryAdapter(model),
    // CILogon's scope set; every key here becomes a supported scope.
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "given_name", "family_name"],
      "org.cilogon.userinfo": ["idp", "idp_name"],
    },
    // Like CILogon, put the scopes' claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    // Verified whenever sent (the default); required of aao-export, which always sends S256.
    pkce: { required: (_ctx, client) => client.clientId === "aao-export" },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: interactionsPolicy() },
    // Cookies ignore ports, so the provider shares a jar with the service on 127.0.0.1: own names.
    cookies: {
      keys: ["aao-export-oidc-test-cookie-key-1", "aao-export-oidc-test-cookie-key-2"],
      names: { session: "op_session", interaction: "op_interaction", resume: "op_interaction_resume" },
    },
    // Explicit values keep the library's "you should change this" notices out of the output.
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
    clientBasedCORS: () => false,
    async renderError(ctx, out) {
      ctx.type = "html";
      ctx.body = page("Sign-in error", `<h1>Sign-in error</h1>${Object.entries(out)
        .map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join("")}`);
    },
  });
  // A test proxy in front may say which host and scheme the browser used.
  if (behindProxy) provider.proxy = true;
  provider.on("server_error", (_ctx, err) => console.error("oidc provider error:", err));
  return provider;
}

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label,input,button{font-size:1rem}
input{display:block;margin:.25rem 0 .5rem;padding:.4rem;width:100%;box-sizing:border-box}button{padding:.4rem 1rem;margin-right:.5rem}
[role=alert]{color:#a00000;margin:.25rem 0}</style></head>
<body><main>${body}</main></body></html>`;
}

function loginPage(uid, { username = "", error } = {}) {
  const base = `/interaction/${encodeURIComponent(uid)}`;
  const alert = error ? `<p id="username-error" role="alert">${esc(error)}</p>` : "";
  const described = error ? ` aria-describedby="username-error" aria-invalid="true"` : "";
  return page("Example University sign-in", `<h1>Example University sign-in</h1>
<form method="post" action="${base}/login">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required value="${esc(username)}"${described}>
${alert}<button type="submit">Sign in</button>
<button type="submit" formaction="${base}/abort" formnovalidate>Cancel</button>
</form>`);
}

async function readForm(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const CANCELLED = { error: "access_denied", error_description: "The user cancelled the sign-in." };

// The provider's own pages: the login prompt and an automatic consent, as in oidc-provider's
// documented example.
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction does not match this browser's cookie");
  const finish = (result) => provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  const html = (status, body) => {
    res.writeHead(status, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(body);
  };
  const { prompt, params } = details;

  if (action === "abort" && req.method === "POST") return finish(CANCELLED);

  if (prompt.name === "login") {
    if (action === "login" && req.method === "POST") {
      const username = ((await readForm(req)).get("username") || "").trim();
      if (Object.hasOwn(ACCOUNTS, username)) return finish({ login: { accountId: username } });
      return html(200, loginPage(uid, { username, error: username ? `No account named “${username}”.` : "Enter your username." }));
    }
    if (!action && req.method === "GET") {
      const hint = params.login_hint;
      if (hint === "refuse") return finish(CANCELLED);
      if (typeof hint === "string" && Object.hasOwn(ACCOUNTS, hint)) return finish({ login: { accountId: hint } });
      return html(200, loginPage(uid));
    }
  }

  if (prompt.name === "consent" && !action && req.method === "GET") {
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes || {})) grant.addResourceScope(indicator, scopes.join(" "));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  }

  res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(`no ${req.method} ${action || "page"} for the ${prompt.name} prompt\n`);
}

/**
 * Starts the provider on 127.0.0.1 with a port of its own. Until redirect URIs are given (here or
 * by setRedirectUris, since the service under test picks its port later) requests wait.
 * `issuer` is what the provider calls itself, for a proxy in front; by default its own address.
 */
export async function startOidcProvider({ redirectUris, issuer } = {}) {
  let current; // { provider, handle }
  let uris;
  let key = signingKey();
  let ready;
  const built = new Promise((resolve) => { ready = resolve; });

  const server = createServer(async (req, res) => {
    try {
      const { provider, handle } = current || await built;
      const path = new URL(req.url, "http://x").pathname;
      if (path === "/test/rotate-keys" && req.method === "POST") {
        // A new instance with the same config; the shared store (see the adapter) keeps the state.
        key = signingKey();
        rebuild();
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ kid: key.kid }));
      }
      const m = path.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
      if (m) return await interaction(provider, req, res, decodeURIComponent(m[1]), m[2]);
      return handle(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(400, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`${err.name}: ${err.message}\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  const publicIssuer = issuer || url;

  function rebuild() {
    const provider = buildProvider(publicIssuer, uris, key, Boolean(issuer));
    current = { provider, handle: provider.callback() };
    ready(current);
  }
  function setRedirectUris(list) {
    if (!Array.isArray(list) || list.length === 0) throw new TypeError("redirect URIs: a non-empty array");
    uris = [...list];
    rebuild();
  }
  if (redirectUris) setRedirectUris(redirectUris);

  return {
    issuer: publicIssuer,
    url,
    setRedirectUris,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const redirectUris = (process.env.OIDC_REDIRECT_URIS || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (redirectUris.length === 0) {
    console.error("set OIDC_REDIRECT_URIS to the relying party's redirect URIs, comma-separated");
    process.exit(2);
  }
  // The line below must be the only one on stdout: the caller reads the address from it.
  console.info = console.log = console.error;
  const op = await startOidcProvider({ redirectUris, issuer: process.env.OIDC_PUBLIC_ISSUER || undefined });
  process.stdout.write(`oidc provider on ${op.url} issuer ${op.issuer}\n`);
  // The test holds our stdin; when it ends (even by crashing) the pipe closes and we go too.
  let stopping;
  const stop = () => { stopping ||= op.close().finally(() => process.exit(0)); };
  process.stdin.on("end", stop).on("close", stop).on("error", stop).resume();
  process.on("SIGTERM", stop).on("SIGINT", stop);
}
