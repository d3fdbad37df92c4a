// What a researcher does in a browser, end to end against the running binary: sign in, build a
// query and see what it matches, create an export with images and watch it complete, download and
// open the ZIP, share and unshare, retry a failed export, delete, see errors where they belong.
// Every page visited is saved under target/ui-screenshots/ for people to look at.
import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const SHOTS = resolve(import.meta.dirname, "../../target/ui-screenshots");
mkdirSync(SHOTS, { recursive: true });

const base = () => process.env.AAO_URL;
const code = () => process.env.AAO_CODES.split(" ")[0];
const exportsDir = () => join(process.env.AAO_WORK, "data/exports");

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + ".png"), fullPage: true });
}

async function signIn(page, user, password) {
  await page.goto(base() + "/signin");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/exports$/);
}

/** The API as the signed-in page sees it (same cookie). */
async function apiGet(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { headers: { Accept: "application/json" } });
    return { status: r.status, body: await r.json() };
  }, path);
}

/** Builds "ACTIVATION CODE CONTAINS <code>" with the builder. */
async function buildQuery(page, phrase) {
  await page.getByLabel("Ads to export").selectOption("OBSERVER_ID_CONTAINS");
  await page.getByLabel(/ACTIVATION CODE CONTAINS/).fill(phrase);
}

test.describe.serial("a researcher's exports", () => {
  let exportId = null;

  test("a page without a session goes to sign-in, a wrong password is refused, then back", async ({ page }) => {
    await page.goto(base() + "/exports");
    await expect(page).toHaveURL(/\/signin\?next=%2Fexports$|\/signin\?next=\/exports$/);
    await shot(page, "signin");
    await page.getByLabel("Username").fill("bob");
    await page.getByLabel("Password").fill("not-his-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toContainText(/username and password do not match/i);
    await expect(page).toHaveURL(/\/signin/);
    await shot(page, "signin-refused");
    await page.getByLabel("Password").fill("bob-password-1");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/exports$/);
    await expect(page.getByText(/No exports yet/)).toBeVisible();
    await shot(page, "exports-empty");
  });

  test("the builder counts the matching ads and shows the first of them", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    await page.getByRole("link", { name: "New export" }).first().click();
    await expect(page).toHaveURL(/\/exports\/new$/);
    await buildQuery(page, code());
    const api = await page.evaluate(async (c) => {
      const r = await fetch("/exports/preview", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: { method: "OBSERVER_ID_CONTAINS", args: [c] } }) });
      return r.json();
    }, code());
    expect(api.ad_count).toBeGreaterThan(0);
    expect(api.ad_count).toBeLessThan(118);
    // The page shows the same count as the API once its check of the new query is back.
    await expect(page.locator("#count")).toHaveText(new RegExp("^" + api.ad_count.toLocaleString("en-US") + " ads? match(es)?$"));
    await expect(page.locator("#estimate")).toContainText(/without images/);
    await page.getByText("Browse ads").click();
    const thumbs = page.locator("#preview-ads img");
    await expect(thumbs.first()).toBeVisible();
    const broken = await thumbs.evaluateAll((imgs) => imgs.filter((i) => i.complete && i.naturalWidth === 0).length);
    expect(broken).toBe(0);
    await expect(page.getByText(/x of y|\d+ of \d+ selected/)).toBeVisible();
    await shot(page, "new-export");
  });

  test("creating an export with images: it appears, completes, and its ZIP opens", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    await page.goto(base() + "/exports/new");
    await buildQuery(page, code());
    await expect(page.locator("#count")).toHaveText(/ads? match/);
    await page.getByRole("switch", { name: "Include images" }).check();
    await page.getByRole("checkbox", { name: "Observation ID" }).check();
    await page.getByRole("button", { name: "Create export" }).click();
    await expect(page).toHaveURL(/\/exports$/);
    const card = page.getByRole("article").first();
    await expect(card).toContainText(/pending|processing|completed/);
    await shot(page, "exports-new-card");
    await expect(card).toContainText("completed", { timeout: 60_000 });
    await shot(page, "exports-completed");
    exportId = await card.getAttribute("data-id");
    // The button is the stable link; following it (with the session cookie) ends at the ZIP.
    const href = await card.getByRole("link", { name: "Download" }).getAttribute("href");
    expect(href).toBe("/exports/" + exportId + "/download");
    const zip = await page.request.get(new URL(href, base()).toString());
    expect(zip.status()).toBe(200);
    const file = join(tmpdir(), "aao-ui-" + exportId + ".zip");
    writeFileSync(file, await zip.body());
    const listing = execFileSync("python3", ["-c", "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))", file]).toString();
    rmSync(file);
    expect(listing).toContain("all_data.csv");
    expect(listing).toContain("export_details.json");
    expect(listing).toMatch(/ads\/[^/]+\/image_1\.\w+/);
  });

  test("the detail page shows everything, and Copy as new export prefills the form", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    await page.getByRole("article").first().getByRole("link").first().click();
    await expect(page).toHaveURL(new RegExp("/exports/" + exportId + "$"));
    await expect(page.getByText(exportId)).toBeVisible();
    await expect(page.getByText("observation_id")).toBeVisible();
    // The download of the test before, through the link, is listed for its creator.
    const downloads = page.getByRole("region", { name: "Downloads" });
    await expect(downloads.getByRole("row")).toHaveCount(2);
    await expect(downloads.getByRole("row").nth(1)).toContainText(/Bob Researcher.*download link/s);
    await shot(page, "export-detail");
    await page.getByRole("link", { name: "Copy as new export" }).click();
    await expect(page).toHaveURL(/\/exports\/new\?from=/);
    await expect(page.getByLabel(/ACTIVATION CODE CONTAINS/)).toHaveValue(code());
    await expect(page.getByRole("switch", { name: "Include images" })).toBeChecked();
    await expect(page.getByRole("checkbox", { name: "Observation ID" })).toBeChecked();
  });

  test("sharing with a second user shows the export in their list; unsharing takes it away", async ({ page, browser }) => {
    await signIn(page, "bob", "bob-password-1");
    const card = page.locator("article[data-id='" + exportId + "']");
    await card.getByRole("button", { name: /Manage access/ }).click();
    const dialog = page.getByRole("dialog", { name: "Manage access" });
    await dialog.getByRole("combobox", { name: "Add user" }).fill("Carol Colleague");
    await dialog.getByRole("button", { name: "Add" }).click();
    await expect(dialog.getByRole("button", { name: "Remove Carol Colleague" })).toBeVisible();
    await shot(page, "manage-access");
    await dialog.getByRole("button", { name: "Done" }).click();
    await expect(card.getByRole("button", { name: "Manage access (1)" })).toBeVisible();

    const carol = await (await browser.newContext()).newPage();
    await signIn(carol, "carol", "carol-password-1");
    const shared = carol.locator("article[data-id='" + exportId + "']");
    await expect(shared).toBeVisible();
    await expect(shared).toContainText("Bob Researcher");
    await expect(shared.getByRole("button", { name: "Delete" })).toHaveCount(0);
    await shot(carol, "exports-shared-with-carol");

    await card.getByRole("button", { name: /Manage access/ }).click();
    await dialog.getByRole("button", { name: "Remove Carol Colleague" }).click();
    await expect(dialog.getByRole("button", { name: "Remove Carol Colleague" })).toHaveCount(0);
    await dialog.getByRole("button", { name: "Done" }).click();
    await carol.reload();
    await expect(carol.locator("article[data-id='" + exportId + "']")).toHaveCount(0);
    await carol.context().close();
  });

  test("a failed export says so, and Retry builds it again", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    // Make the exports folder unusable: a file where the outputs folder should be.
    const outputs = join(exportsDir(), "outputs");
    renameSync(outputs, outputs + ".aside");
    writeFileSync(outputs, "not a folder");
    let failedId;
    try {
      await page.goto(base() + "/exports/new");
      await buildQuery(page, code());
      await page.getByRole("button", { name: "Create export" }).click();
      await expect(page).toHaveURL(/\/exports$/);
      const card = page.getByRole("article").first();
      await expect(card).toContainText("failed", { timeout: 60_000 });
      // What failed and a reference, never the store's own words (a server path).
      await expect(card).toContainText(/saving the file to the exports store failed.*reference: export [0-9a-f-]+, attempt 1/);
      await expect(card).not.toContainText(/Not a directory|outputs\//);
      await expect(card).toContainText("You can try again with Retry.");
      failedId = await card.getAttribute("data-id");
      await shot(page, "exports-failed");
    } finally {
      rmSync(outputs);
      renameSync(outputs + ".aside", outputs);
    }
    const card = page.locator("article[data-id='" + failedId + "']");
    await card.getByRole("button", { name: "Retry" }).click();
    await expect(card).toContainText("completed", { timeout: 60_000 });
    const api = await apiGet(page, "/exports/" + failedId);
    expect(api.body.status).toBe("completed");
    expect(api.body.attempt).toBe(1);
  });

  test("a bad JSON query is explained next to the query and creates nothing", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    const before = (await apiGet(page, "/exports")).body.length;
    await page.goto(base() + "/exports/new");
    await page.getByRole("radio", { name: "JSON" }).check();
    const json = page.getByLabel("Query JSON");
    await json.fill('{"method": "AND", "args": [{"method": "ALL"}, {"method": "FOO"}]}');
    await expect(page.locator("#query-error")).toContainText('query.args[1].method: unknown method "FOO"');
    await page.getByRole("button", { name: "Create export" }).click();
    await expect(page.locator("#query-error")).toContainText("unknown method");
    await expect(page).toHaveURL(/\/exports\/new$/);
    await json.fill("{");
    await expect(page.locator("#query-error")).toContainText("not valid JSON");
    await shot(page, "new-export-json-error");
    // Switching to the builder keeps the query: with JSON that does not parse, it stays put.
    await page.getByRole("radio", { name: "Builder" }).click();
    await expect(page.getByRole("radio", { name: "JSON" })).toBeChecked();
    await expect(page.locator("#query-error")).toContainText("not valid JSON");
    // An empty phrase in the builder: the error sits in that condition.
    await json.fill('{"method": "PAGE_NAME_CONTAINS", "args": ["bank"]}');
    await page.getByRole("radio", { name: "Builder" }).check();
    await page.getByLabel(/PAGE NAME CONTAINS/).fill("");
    await expect(page.locator(".node.has-error .node-error")).toContainText("query.args[0]");
    await shot(page, "new-export-builder-error");
    expect((await apiGet(page, "/exports")).body.length).toBe(before);
  });

  test("deleting asks first, then the export is gone", async ({ page }) => {
    await signIn(page, "bob", "bob-password-1");
    const card = page.locator("article[data-id='" + exportId + "']");
    await card.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete this export?" });
    await expect(dialog).toBeVisible();
    await shot(page, "delete-confirm");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect(card).toBeVisible();
    await card.getByRole("button", { name: "Delete" }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await expect(card).toHaveCount(0);
    expect((await apiGet(page, "/exports/" + exportId)).status).toBe(404);
  });

  test("the list at 360 px wide fits the screen", async ({ browser }) => {
    const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
    const page = await context.newPage();
    await signIn(page, "bob", "bob-password-1");
    await expect(page.getByRole("article").first()).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, "exports-360px");
    await page.goto(base() + "/exports/new");
    await shot(page, "new-export-360px");
    await context.close();
  });
});

test.describe("accessibility", () => {
  // axe is injected as a script, which the pages' Content-Security-Policy forbids: this context
  // bypasses it (the other tests run with it).
  test.use({ bypassCSP: true });

  async function axe(page, label) {
    await page.addScriptTag({ path: AXE });
    const result = await page.evaluate(() => window.axe.run(document));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + " (" + v.impact + "): " + v.nodes.map((n) => n.target.join(" ")).join(", "));
    expect(bad, label).toEqual([]);
  }

  test("every page passes axe with no serious or critical violation", async ({ page }) => {
    await page.goto(base() + "/signin");
    await axe(page, "sign-in");
    await signIn(page, "bob", "bob-password-1");
    // An export to show, whatever ran before.
    const created = await page.evaluate(async () => (await fetch("/exports", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query: { method: "ALL" } }) })).status);
    expect(created).toBe(201);
    await page.reload();
    await expect(page.getByRole("article").first()).toBeVisible();
    await axe(page, "exports");
    await page.goto(base() + "/exports/new");
    await expect(page.locator("#count")).toHaveText(/match|cannot/);
    await axe(page, "new export");
    await page.goto(base() + "/exports");
    // With each dialog open: what a screen reader meets there counts too.
    const card = page.getByRole("article").first();
    await card.getByRole("button", { name: /Manage access/ }).click();
    await expect(page.getByRole("dialog", { name: "Manage access" })).toBeVisible();
    await axe(page, "manage-access dialog");
    await shot(page, "exports-access-dialog");
    await page.getByRole("dialog", { name: "Manage access" }).getByRole("button", { name: "Done" }).click();
    await card.getByRole("button", { name: "Delete" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete this export?" });
    await expect(confirm).toBeVisible();
    await axe(page, "delete dialog");
    await shot(page, "exports-delete-dialog");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await expect(confirm).toBeHidden();
    const link = await card.getByRole("link").first().getAttribute("href");
    await page.goto(base() + link);
    await axe(page, "export detail");
  });
});

test("signing out in one tab ends the session in another", async ({ browser }) => {
  const context = await browser.newContext();
  const first = await context.newPage();
  await signIn(first, "carol", "carol-password-1");
  const second = await context.newPage();
  await second.goto(base() + "/exports");
  await expect(second).toHaveURL(/\/exports$/);
  // The session's token, as a script that copied it would hold it: it dies with the session.
  const cookie = (await context.cookies()).find((c) => c.name.endsWith("aao_session"));
  expect(cookie, "the session cookie").toBeTruthy();
  await first.getByRole("button", { name: "Sign out" }).click();
  await expect(first).toHaveURL(/\/signin/);
  await second.reload();
  await expect(second).toHaveURL(/\/signin/);
  await shot(second, "signed-out-elsewhere");
  const bearer = await second.evaluate(async (token) => {
    const r = await fetch("/auth/me", { headers: { Authorization: "Bearer " + token, Accept: "application/json" } });
    return { status: r.status, body: await r.json() };
  }, cookie.value);
  expect(bearer.status).toBe(401);
  expect(bearer.body.comment).toBe("SESSION_ENDED");
  await context.close();
});

test("past the preview limit the builder says it is waiting, then counts by itself", async ({ page }) => {
  await signIn(page, "carol", "carol-password-1");
  await page.goto(base() + "/exports/new");
  await expect(page.locator("#count")).toHaveText(/ads? match/);
  // Use up carol's previews for this window (30 in 10 s by default), as a script would; a
  // window about to end is waited out first, so the page's own preview lands in the same one.
  const useUp = () => page.evaluate(async () => {
    for (let i = 0; i < 40; i++) {
      const r = await fetch("/exports/preview", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: { method: "ALL" } }) });
      if (r.status === 429) return { after: r.headers.get("Retry-After"), body: await r.json() };
    }
    return null;
  });
  let refused = await useUp();
  expect(refused, "a 429 within 40 previews").not.toBeNull();
  if (Number(refused.after) < 4) {
    await page.waitForTimeout(Number(refused.after) * 1000 + 200);
    refused = await useUp();
  }
  expect(refused.body.comment).toBe("TOO_MANY_PREVIEWS");
  expect(Number(refused.after)).toBeGreaterThanOrEqual(1);
  await buildQuery(page, code());
  await expect(page.locator("#count")).toHaveText(/^Many previews in a short time: counting again in \d+ s\.$/);
  // Nothing of the query before stays on show meanwhile.
  await expect(page.locator("#estimate")).toHaveText("");
  await expect(page.locator("#preview-ads li")).toHaveCount(0);
  await shot(page, "new-export-rate-limited");
  // Nothing to click: once the window has passed, the page asks again and shows the count.
  await expect(page.locator("#count")).toHaveText(/^\d[\d,]* ads? match(es)?$/, { timeout: 15_000 });
  await expect(page.locator("#estimate")).toContainText(/without images/);
});

test("a query too broad to count in time shows an estimate, marked as one", async ({ page }) => {
  // The second API of global-setup.mjs has no time to count (EXPORT_PREVIEW_BUDGET_MS=0).
  const hurried = process.env.AAO_HURRIED_URL;
  await page.goto(hurried + "/signin");
  await page.getByLabel("Username").fill("bob");
  await page.getByLabel("Password").fill("bob-password-1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/exports$/);
  await page.goto(hurried + "/exports/new");
  // Twenty phrases in no ad, then one in most: every ad is tested twenty times, so even 120 ads
  // take longer than no time. (ALL is never estimated: its count is kept, not counted.)
  const query = { method: "ANYTHING_CONTAINS", args: [...Array.from({ length: 20 }, (_, i) => "~" + i), "e"] };
  const api = await page.evaluate(async (q) => (await fetch("/exports/preview", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query: q }) })).json(), query);
  expect(api.estimated).toBe(true);
  expect(api.ad_count).toBeGreaterThan(0);
  await page.getByRole("radio", { name: "JSON" }).check();
  await page.getByLabel("Query JSON").fill(JSON.stringify(query));
  await expect(page.locator("#count")).toHaveText(new RegExp("^About " + api.ad_count.toLocaleString("en-US") +
    " ads match \\(too broad to count quickly: estimated from a sample of the catalogue; the export holds every match\\)$"));
  await expect(page.locator("#estimate")).toContainText(/without images/);
  await shot(page, "new-export-estimated");
});
