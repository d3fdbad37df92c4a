// The AAO's own dashboard (ADMSCentre/australian-ad-observatory-dashboard-v2) against our API: a
// page at an origin of its own makes exactly the requests the dashboard's code makes, in its
// order, with its headers and bodies, and reads the answers the way its code does (which keys,
// which status codes). Written from reading the dashboard's source; none of its code is here.
// Each step names the dashboard file the request comes from.
import { test, expect } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

const SHOTS = resolve(import.meta.dirname, "../../target/ui-screenshots");
mkdirSync(SHOTS, { recursive: true });

/** One request from the dashboard's page, as its fetch wrapper (openapi-fetch) makes it: JSON
 * body with Content-Type only when there is a body, the bearer token when given, no cookies
 * (credentials "same-origin" across origins). Answers {status, ok, data, error} as it does:
 * 2xx with a body → data (JSON), otherwise → error (JSON if it parses). */
async function dashboardFetch(page, api, { method, path, token, body, from }) {
  return page.evaluate(async ({ api, method, path, token, body, from }) => {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let parsed;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
    const li = document.createElement("li");
    li.textContent = `${method} ${path} → ${r.status} (${from})`;
    document.getElementById("log").append(li);
    return { status: r.status, ok: r.ok, data: r.ok ? parsed : undefined, error: r.ok ? undefined : parsed };
  }, { api, method, path, token, body, from });
}

/** The dashboard's own reading of its token: `JSON.parse(atob(token.split('.')[1]))`. */
async function decodeLikeTheDashboard(page, token) {
  return page.evaluate((t) => JSON.parse(atob(t.split(".")[1])), token);
}

test("the AAO dashboard's requests, in its order, from its own origin", async ({ page }) => {
  const api = process.env.AAO_URL;
  const origin = process.env.AAO_DASHBOARD_ORIGIN;
  expect(new URL(origin).origin).not.toBe(new URL(api).origin);
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  await page.goto(origin + "/");

  // 1. src/lib/api/auth/auth.svelte.ts (validate on load): a stale token from localStorage 'jwt'
  //    is verified, without Authorization; success false → the dashboard logs out.
  const stale = await dashboardFetch(page, api, { method: "POST", path: "/auth/verify", body: { token: "stale.token.here" }, from: "auth.svelte.ts validate" });
  expect(stale.status).toBe(400);
  expect(stale.error.success).toBe(false);
  expect(stale.error.comment).toBe("VERIFY_FAILED");

  // 2. src/routes/login/+page.svelte → auth.login: reads only `token`.
  const login = await dashboardFetch(page, api, { method: "POST", path: "/auth/login", body: { username: "bob", password: "bob-password-1" }, from: "routes/login/+page.svelte" });
  expect(login.status).toBe(200);
  const token = login.data.token;
  expect(typeof token).toBe("string");
  const me = await decodeLikeTheDashboard(page, token);
  expect(me.sub).toBe("bob");
  expect(me.enabled).toBe(true);
  expect(["user", "admin"]).toContain(me.role); // the sidebar shows Exports for these
  expect(me.full_name).toBe("Bob Researcher");

  // 3. auth.svelte.ts validate, on the next page load: the token it stored verifies.
  const verified = await dashboardFetch(page, api, { method: "POST", path: "/auth/verify", body: { token }, from: "auth.svelte.ts validate" });
  expect(verified.status).toBe(200);
  expect(verified.data.success).toBe(true);

  // 4. src/routes/exports/exports.svelte.ts fetchExports: a bare array.
  const listed = await dashboardFetch(page, api, { method: "GET", path: "/exports", token, from: "exports.svelte.ts fetchExports" });
  expect(listed.status).toBe(200);
  expect(Array.isArray(listed.data)).toBe(true);

  // 5. exports.svelte.ts fetchFields: a bare array keyed on `id`; the selection is paths.
  const fields = await dashboardFetch(page, api, { method: "GET", path: "/exports/fields", token, from: "exports.svelte.ts fetchFields" });
  expect(fields.status).toBe(200);
  const ids = fields.data.map((f) => f.id);
  expect(new Set(ids).size).toBe(fields.data.length); // keyed each-block: no duplicates
  for (const f of fields.data) {
    for (const key of ["id", "name", "description", "path", "is_default"]) expect(f).toHaveProperty(key);
  }
  const chosen = fields.data.filter((f) => f.is_default).map((f) => f.path);
  expect(chosen.length).toBeGreaterThan(0);

  // 6. routes/exports/components/create-export-dialog.svelte → createExport: any 2xx is success.
  const query = { method: "ANYTHING_CONTAINS", args: ["a"] };
  const created = await dashboardFetch(page, api, { method: "POST", path: "/exports", token, body: { query, include_images: false, fields: chosen }, from: "create-export-dialog.svelte" });
  expect(created.ok).toBe(true);
  //    then exports.svelte.ts fetchExports again, newest first by created_at.
  const after = await dashboardFetch(page, api, { method: "GET", path: "/exports", token, from: "exports.svelte.ts fetchExports" });
  const sorted = [...after.data].sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
  const mine = sorted[0];
  expect(mine.creator_id).toBe(me.sub); // "creator only" compares with the token's sub
  expect(typeof mine.status).toBe("string");
  expect(Array.isArray(mine.shared_with)).toBe(true);
  expect(Array.isArray(mine.export_parameters.fields)).toBe(true);
  expect(Number.isNaN(new Date(mine.created_at).getTime())).toBe(false);
  const id = mine.export_id;

  // 7. routes/exports/+page.svelte refreshExports, every 10 s while pending or processing: the
  //    bare export object. (Polled faster here; the same request.)
  let current = mine;
  for (let i = 0; i < 120 && ["pending", "processing"].includes(current.status); i++) {
    await page.waitForTimeout(500);
    const polled = await dashboardFetch(page, api, { method: "GET", path: `/exports/${id}`, token, from: "+page.svelte refreshExports" });
    expect(polled.status).toBe(200);
    current = polled.data;
  }
  expect(current.status).toBe("completed");
  expect(Number.isNaN(new Date(current.completed_at).getTime())).toBe(false);
  //    Download: window.open(url) with no Authorization; the link downloads by itself.
  expect(current.url).toMatch(/^https?:\/\//);
  const zip = await page.request.get(current.url);
  expect(zip.status()).toBe(200);
  expect((await zip.body()).subarray(0, 2).toString()).toBe("PK");

  // 8. src/lib/api/session/users/index.svelte.ts: keeps users with a username.
  const users = await dashboardFetch(page, api, { method: "GET", path: "/users", token, from: "session/users/index.svelte.ts" });
  expect(users.status).toBe(200);
  const named = users.data.filter((u) => u.username);
  const carol = named.find((u) => u.id === "carol");
  expect(carol).toBeTruthy();
  expect(carol.username).toBe("carol");
  expect(carol.full_name).toBe("Carol Colleague");

  // 9. routes/exports/components/manage-access-dialog.svelte: share, then the export again.
  const shared = await dashboardFetch(page, api, { method: "POST", path: `/exports/${id}/share`, token, body: { user_ids: [carol.id] }, from: "manage-access-dialog.svelte share" });
  expect(shared.ok).toBe(true);
  const withCarol = await dashboardFetch(page, api, { method: "GET", path: `/exports/${id}`, token, from: "manage-access-dialog.svelte" });
  expect(withCarol.data.shared_with).toEqual(["carol"]);

  // 10. manage-access-dialog.svelte: unshare (the badge's X), then the export again.
  const unshared = await dashboardFetch(page, api, { method: "POST", path: `/exports/${id}/unshare`, token, body: { user_ids: [carol.id] }, from: "manage-access-dialog.svelte unshare" });
  expect(unshared.ok).toBe(true);
  const alone = await dashboardFetch(page, api, { method: "GET", path: `/exports/${id}`, token, from: "manage-access-dialog.svelte" });
  expect(alone.data.shared_with).toEqual([]);

  // 11. exports.svelte.ts deleteExport: a 2xx with a JSON body; then the list without it.
  const deleted = await dashboardFetch(page, api, { method: "DELETE", path: `/exports/${id}`, token, from: "exports.svelte.ts deleteExport" });
  expect(deleted.ok).toBe(true);
  expect(deleted.data).toBeTruthy();
  const last = await dashboardFetch(page, api, { method: "GET", path: "/exports", token, from: "exports.svelte.ts fetchExports" });
  expect(last.data.some((e) => e.export_id === id)).toBe(false);

  // A refusal reaches the page with a body (openapi-fetch treats an empty error as success).
  const refused = await dashboardFetch(page, api, { method: "DELETE", path: `/exports/${id}`, token, from: "exports.svelte.ts deleteExport" });
  expect(refused.status).toBe(404);
  expect(refused.error.success).toBe(false);

  expect(consoleErrors.filter((e) => /CORS|Access-Control/i.test(e))).toEqual([]);
  await page.screenshot({ path: join(SHOTS, "dashboard-contract.png"), fullPage: true });
});
