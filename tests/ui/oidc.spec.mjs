// Signing in with CILogon (the protocol, against a real OpenID Connect provider on loopback): a
// researcher's first sign-in waits for an administrator, who enables them on /admin/users; then
// the researcher signs in, lands on the page they asked for, sees their name and signs out.
// Screenshots (wide and 360 px) of the sign-in page with its button, the waiting page and the
// users page go to target/ui-screenshots/; axe checks each.
import { test, expect } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const SHOTS = resolve(import.meta.dirname, "../../target/ui-screenshots");
mkdirSync(SHOTS, { recursive: true });
const base = () => process.env.AAO_URL;

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + ".png"), fullPage: true });
}

/** Saves the page wide and at 360 px (the same page, resized), and runs axe on it. */
async function look(page, name) {
  await shot(page, name);
  const wide = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 740 });
  await shot(page, name + "-360px");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, name + ": no sideways scrolling at 360 px").toBeLessThanOrEqual(0);
  await page.setViewportSize(wide);
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + " (" + v.impact + "): " + v.nodes.map((n) => n.target.join(" ")).join(", "));
  expect(bad, name).toEqual([]);
}

/** From the sign-in page, through the provider's own page, as `username`. */
async function signInAtProvider(page, username) {
  await page.getByRole("link", { name: "Sign in with CILogon" }).click();
  await expect(page).toHaveURL(new RegExp("^" + process.env.AAO_OIDC_URL));
  await expect(page.getByRole("heading", { name: "Example University sign-in" })).toBeVisible();
  await page.getByLabel("Username").fill(username);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test.describe.serial("signing in with CILogon", () => {
  // axe is injected as a script, which the pages' Content-Security-Policy forbids.
  test.use({ bypassCSP: true });

  test("a first sign-in waits; an administrator enables it; then it lands where it asked to go", async ({ browser }) => {
    const nina = await browser.newContext();
    const page = await nina.newPage();
    await page.goto(base() + "/exports/new");
    await expect(page).toHaveURL(/\/signin\?next=/);
    await expect(page.getByRole("link", { name: "Sign in with CILogon" })).toBeVisible();
    await expect(page.getByLabel("Password")).toBeVisible();
    await look(page, "signin-with-cilogon");

    await signInAtProvider(page, "nina");
    await expect(page).toHaveURL(/\/auth\/oidc\/callback/);
    await expect(page.getByText("Your account is waiting for an administrator to enable it")).toBeVisible();
    await expect(page.locator("#waiting-name")).toHaveText("Nina Newcomer");
    await expect(page.locator("#waiting-email")).toHaveText("nina@uni.example.edu.au");
    await look(page, "oidc-waiting");
    // Nothing else is reachable: the pages still ask for a sign-in.
    await page.goto(base() + "/exports");
    await expect(page).toHaveURL(/\/signin\?next=/);

    const admin = await browser.newContext();
    const adminPage = await admin.newPage();
    await adminPage.goto(base() + "/signin");
    await adminPage.getByLabel("Username").fill("alice");
    await adminPage.getByLabel("Password").fill("alice-password-1");
    await adminPage.locator("form[action='/signin'] button").click();
    await expect(adminPage).toHaveURL(/\/exports$/);
    await adminPage.getByRole("link", { name: "Users" }).click();
    await expect(adminPage).toHaveURL(/\/admin\/users$/);
    const row = adminPage.locator("tr", { hasText: "Nina Newcomer" });
    await expect(row).toContainText("Not enabled");
    await expect(row).toContainText("cilogon: nina");
    await look(adminPage, "admin-users");
    await row.getByRole("button", { name: "Enable Nina Newcomer" }).click();
    await expect(adminPage.getByRole("status")).toHaveText("Nina Newcomer is enabled and can sign in.");
    await expect(adminPage.locator("tr", { hasText: "Nina Newcomer" })).toContainText("Enabled");
    await shot(adminPage, "admin-users-enabled");

    await page.goto(base() + "/exports/new");
    await expect(page).toHaveURL(/\/signin\?next=/);
    await page.getByRole("link", { name: "Sign in with CILogon" }).click();
    // The provider remembers her; if it asks again, she signs in again.
    const providerPage = page.getByRole("heading", { name: "Example University sign-in" });
    await expect(page.locator("header.top .who").or(providerPage)).toBeVisible();
    if (await providerPage.isVisible()) {
      await page.getByLabel("Username").fill("nina");
      await page.getByRole("button", { name: "Sign in" }).click();
    }
    await expect(page).toHaveURL(base() + "/exports/new");
    await expect(page.locator("header.top .who")).toHaveText("Signed in as Nina Newcomer");
    await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
    await shot(page, "oidc-signed-in");

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/signin$/);
    await page.goto(base() + "/exports");
    await expect(page).toHaveURL(/\/signin\?next=/);

    // The administrator's list now has her last sign-in.
    await adminPage.reload();
    await expect(adminPage.locator("tr", { hasText: "Nina Newcomer" }).locator("time")).toHaveCount(1);
    await nina.close();
    await admin.close();
  });

  test("a sign-in cancelled at the provider says so, with a way back", async ({ page }) => {
    await page.goto(base() + "/signin?next=/exports");
    await page.getByRole("link", { name: "Sign in with CILogon" }).click();
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByRole("alert")).toHaveText("CILogon did not sign you in: The user cancelled the sign-in.");
    await look(page, "oidc-cancelled");
    await page.getByRole("link", { name: "Back to sign-in" }).click();
    await expect(page).toHaveURL(/\/signin\?next=\/exports$/);
  });
});
