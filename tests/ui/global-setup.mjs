// Starts aao-export for the browser tests: demo data, three users with passwords, and `serve` on
// 127.0.0.1 with a port of its own choosing, signing in through an OpenID Connect provider too. Exports AAO_URL (and the folders) to the tests.
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startOidcProvider } from "./oidc-provider.mjs";

const root = resolve(import.meta.dirname, "../..");
export const BIN = process.env.AAO_BIN || join(root, "target/release/aao-export");
export const USERS = [
  ["alice", "Alice Admin", "admin", "alice-password-1"],
  ["bob", "Bob Researcher", "user", "bob-password-1"],
  ["carol", "Carol Colleague", "user", "carol-password-1"],
];

export default async function globalSetup() {
  const work = mkdtempSync(join(tmpdir(), "aao-ui-"));
  // Another site on loopback, standing in for the AAO's dashboard (dashboard.spec.mjs): a blank
  // page at an origin of its own, which the service lets call its API (SERVER_CORS_ORIGINS).
  const dashboard = createServer((_, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>AAO dashboard stand-in</title><h1>Requests the dashboard makes</h1><ol id=log></ol>");
  });
  await new Promise((ready) => dashboard.listen(0, "127.0.0.1", ready));
  const dashboardOrigin = `http://localhost:${dashboard.address().port}`;
  process.env.AAO_DASHBOARD_ORIGIN = dashboardOrigin;
  globalThis.__aaoDashboard = dashboard;
  const env = { ...process.env, RUST_LOG: "warn", SERVER_BIND: "127.0.0.1:0", EXPORT_MAX_RETRIES: "0", EXPORT_LEASE_SECONDS: "5",
    SERVER_CORS_ORIGINS: dashboardOrigin };
  const run = (args) => execFileSync(BIN, args, { cwd: work, env, stdio: ["ignore", "pipe", "inherit"] }).toString();
  const demo = run(["demo-data", "--ads", "120", "--images-per-ad", "2", "--seed", "3"]);
  // "activation codes (for OBSERVER_ID_CONTAINS): 1a2b3c4d ..." — the tests query by them.
  process.env.AAO_CODES = (demo.match(/activation codes[^:]*: (.*)/) || [, ""])[1].trim();
  for (const [id, name, role, password] of USERS) run(["users", "add", id, "--name", name, "--role", role, "--password", password]);
  // Starts `aao-export ARGS` and resolves to the address it prints.
  const start = (args, printed, extraEnv = {}) => {
    const child = spawn(BIN, args, { cwd: work, env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "inherit"], detached: false });
    const address = new Promise((resolveUrl, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("aao-export did not start within 30 s: " + out)), 30_000);
      child.stdout.on("data", (chunk) => {
        out += chunk;
        const m = out.match(new RegExp(printed + " (http://127\\.0\\.0\\.1:\\d+)"));
        if (m) { clearTimeout(timer); resolveUrl(m[1]); }
      });
      child.on("exit", (code) => reject(new Error("aao-export exited with " + code + ": " + out)));
    });
    return { child, address };
  };
  // The researchers' identity provider (CILogon's protocol), a real one on loopback: it learns the
  // service's callback once the service has chosen its port.
  const provider = await startOidcProvider();
  globalThis.__aaoProvider = provider;
  process.env.AAO_OIDC_URL = provider.url;
  const { child: server, address } = start(["serve"], "serving on", {
    OIDC_ISSUER_URL: provider.issuer, OIDC_CLIENT_ID: "aao-export", OIDC_CLIENT_SECRET: "aao-export-test-secret" });
  const url = await address;
  provider.setRedirectUris([url + "/auth/oidc/callback"]);
  server.stdout.resume();
  // A second API on the same database whose previews have no time to count, so that the builder's
  // estimated state can be seen (exports.spec.mjs).
  const hurried = start(["api"], "API on", { EXPORT_PREVIEW_BUDGET_MS: "0" });
  process.env.AAO_HURRIED_URL = await hurried.address;
  hurried.child.stdout.resume();
  globalThis.__aaoHurried = hurried.child;
  process.env.AAO_URL = url;
  process.env.AAO_WORK = work;
  writeFileSync(join(work, "server.pid"), String(server.pid));
  globalThis.__aaoServer = server;
}
