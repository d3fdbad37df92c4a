// The report of an export, as a researcher sees it: unzip the export and double-click
// report.html. Real exports are made by the binary's `export` command from demo data of their own
// (3,000 ads, plus one ad whose OCR text and page name are hostile HTML), unzipped into a temporary
// folder and opened over file:// in headless Chromium. Asserts what a person would check: the
// cards are the CSV's rows in order, page after page; every thumbnail loads; nothing is fetched
// but the archive's own files; no console errors; the hostile text shows as text and runs
// nothing; every link leads to a file of the archive. Screenshots go to target/ui-screenshots/.
import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BIN } from "./global-setup.mjs";

const SHOTS = resolve(import.meta.dirname, "../../target/ui-screenshots");
mkdirSync(SHOTS, { recursive: true });

const HOSTILE_OCR = "<img src=x onerror=alert(1)>";
const HOSTILE_OCR_2 = "</script><script>alert(2)</script>";
const HOSTILE_PAGE = "<b>Bold & \"quoted\"</b>";
const HOSTILE_ID = "0badc0de-0000-4000-8000-00000000beef";

let work;
let all; // unzipped export of every ad, default fields, no images
let imgs; // unzipped export of one observer's ads (with the hostile one), with images

/** The binary, in the test's own folder (its own SQLite database and observations store). */
function run(args) {
  const env = { ...process.env, RUST_LOG: "warn" };
  for (const k of Object.keys(env)) if (/^(DATABASE|BUCKETS|EXPORT|SERVER|AWS)_/.test(k)) delete env[k];
  return execFileSync(BIN, args, { cwd: work, env, stdio: ["ignore", "pipe", "inherit"], timeout: 240_000 }).toString();
}

function unzip(zip, dir) {
  execFileSync("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])", zip, dir]);
  return dir;
}

/** A column of all_data.csv, read by Python's csv module. */
function csvColumn(dir, column) {
  const out = execFileSync("python3", ["-c",
    "import csv, sys\nfor row in csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')): print(row[sys.argv[2]])",
    join(dir, "all_data.csv"), column]).toString();
  return out.split("\n").filter((l) => l !== "");
}

function rdoFiles(dir) {
  const found = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === "output.json") found.push(p);
    }
  };
  walk(dir);
  return found.sort();
}

test.beforeAll(async () => {
  test.setTimeout(300_000);
  work = mkdtempSync(join(tmpdir(), "aao-report-"));
  // A little over 3,000 ads are exported (withdrawn participants' ads are not).
  run(["demo-data", "--ads", "3100", "--images-per-ad", "1", "--seed", "5"]);
  // The hostile ad: a copy of a demo ad (its image too), observed after every other one.
  const observations = join(work, "data/observations");
  const model = rdoFiles(observations).map((p) => JSON.parse(readFileSync(p, "utf8")))
    .find((r) => r.is_user_disabled !== true && (r.media || []).length > 0);
  const observed = 1_900_000_000;
  model.observation.uuid = `${observed * 1000}.${HOSTILE_ID}`;
  model.observation.observed_on_device_at = observed;
  model.observation.keyframes = [{ observed_at: observed, ocr_data: [
    { x: 1, y: 2, w: 3, h: 4, text: HOSTILE_OCR, confidence: 0.9 },
    { x: 1, y: 2, w: 3, h: 4, text: HOSTILE_OCR_2, confidence: 0.8 },
  ] }];
  model.enrichment.meta_adlibrary_scrape.candidates = [{ data: { page_name: HOSTILE_PAGE } }];
  const key = join(observations, model.observer.uuid, "rdo", model.observation.uuid, "output.json");
  mkdirSync(join(key, ".."), { recursive: true });
  writeFileSync(key, JSON.stringify(model));
  run(["index"]);

  run(["export", "--query", '{"method":"ALL"}', "--out", join(work, "all.zip")]);
  all = unzip(join(work, "all.zip"), join(work, "all"));
  run(["export", "--query", JSON.stringify({ method: "OBSERVER_ID_CONTAINS", args: [model.observer.uuid.slice(0, 8)] }),
    "--fields", "observation_id,ocr.text,tags,observation.platform", "--include-images", "--out", join(work, "imgs.zip")]);
  imgs = unzip(join(work, "imgs.zip"), join(work, "imgs"));
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A page that records what a person would notice: console errors, dialogs, any request. */
async function watched(page) {
  const seen = { errors: [], dialogs: [], requests: [], finished: [], failed: [] };
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("dialog", async (d) => { seen.dialogs.push(d.message()); await d.dismiss(); });
  page.on("request", (r) => seen.requests.push(r.url()));
  page.on("requestfinished", (r) => seen.finished.push(r.url()));
  page.on("requestfailed", (r) => seen.failed.push([r.url(), r.failure()?.errorText]));
  return seen;
}

/** The observation ids of the page's cards, in order. */
const cardIds = (page) => page.locator("article.ad h3 code").allTextContents();

/** Every link of the page leads to an existing file inside `root`. */
async function linksResolve(page, root) {
  const hrefs = await page.locator("a[href]").evaluateAll((as) => as.map((a) => a.href));
  expect(hrefs.length).toBeGreaterThan(0);
  for (const href of hrefs) {
    expect(href, "a link to a file of the archive").toMatch(/^file:\/\//);
    const path = fileURLToPath(href.split("#")[0]);
    expect(path.startsWith(root + sep), `${href} stays inside the archive`).toBe(true);
    expect(existsSync(path) && statSync(path).isFile(), `${href} exists`).toBe(true);
  }
  return hrefs;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + ".png"), fullPage: true });
}

test("a 3,000-ad report: summary, page index, and every page's cards are the CSV's rows in order", async ({ page }) => {
  test.setTimeout(180_000);
  const seen = await watched(page);
  const ids = csvColumn(all, "observation.uuid").map((u) => u.slice(u.indexOf(".") + 1));
  expect(ids.length).toBeGreaterThanOrEqual(3000);
  const pages = Math.ceil(ids.length / 100);
  const details = JSON.parse(readFileSync(join(all, "export_details.json"), "utf8"));
  expect(details.report).toEqual({
    path: "report.html", page_count: pages, ads_per_page: 100,
    pages: Array.from({ length: pages }, (_, i) => (i === 0 ? "report.html" : `report/page-${String(i + 1).padStart(4, "0")}.html`)),
  });

  await page.goto(pathToFileURL(join(all, "report.html")).href);
  await expect(page).toHaveTitle(new RegExp(details.export_id));
  await expect(page.locator("p.lead")).toContainText(`${ids.length} ads`);
  await expect(page.locator(".facts")).toContainText("ALL ADS");
  await expect(page.getByRole("cell", { name: "Observer UUID" })).toBeVisible();
  await expect(page.getByRole("link", { name: "all_data.csv" })).toBeVisible();
  await expect(page.getByRole("link", { name: "export_details.json" })).toBeVisible();
  await expect(page.locator(".facts")).toContainText("not included"); // images
  // The page index: every page, in order.
  const index = await page.locator("ol.pages a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  expect(index).toEqual(details.report.pages.map((p, i) => (i === 0 ? "report.html#ads" : p)));
  expect(await page.locator("article.ad img").count()).toBe(0);
  await shot(page, "report-summary-3000");

  // Page after page by "Next": the cards are the CSV's rows, 100 a page, and every link resolves.
  let shown = [];
  for (let n = 1; ; n++) {
    const onPage = await cardIds(page);
    expect(onPage, `page ${n}`).toEqual(ids.slice((n - 1) * 100, n * 100));
    shown = shown.concat(onPage);
    await linksResolve(page, all);
    const prev = page.locator("a[rel=prev]");
    expect(await prev.count(), `page ${n}: previous above and below`).toBe(n === 1 ? 0 : 2);
    if (n === 17) await shot(page, "report-page-17");
    const next = page.locator("a[rel=next]");
    if (n === pages) {
      expect(await next.count(), "the last page has no next").toBe(0);
      break;
    }
    expect(await next.count(), `page ${n}: next above and below`).toBe(2);
    await next.first().click();
    await expect(page).toHaveURL(new RegExp(`report/page-${String(n + 1).padStart(4, "0")}\\.html$`));
  }
  expect(shown).toEqual(ids);

  // A later page straight from the index, and back to the summary.
  await page.goto(pathToFileURL(join(all, "report.html")).href);
  await page.locator("ol.pages a", { hasText: /^Page 12$/ }).click();
  await expect(page.locator("h1")).toHaveText("Ads 1101–1200");
  expect(await cardIds(page)).toEqual(ids.slice(1100, 1200));
  await page.getByRole("link", { name: "Summary and all pages" }).first().click();
  await expect(page.locator("#pages")).toBeVisible();

  expect(seen.errors).toEqual([]);
  expect(seen.dialogs).toEqual([]);
  expect(seen.requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
});

test("a report with images: thumbnails load, hostile text shows as text, nothing leaves the archive", async ({ page }) => {
  test.setTimeout(120_000);
  const seen = await watched(page);
  const ids = csvColumn(imgs, "observation_id");
  expect(ids[0]).toBe(HOSTILE_ID);
  await page.goto(pathToFileURL(join(imgs, "report.html")).href);
  expect(await cardIds(page)).toEqual(ids.slice(0, 100));

  // The hostile ad shows its text, and none of it ran.
  const card = page.locator("article.ad").first();
  await expect(card.getByText(HOSTILE_OCR, { exact: false })).toBeVisible();
  await expect(card).toContainText(HOSTILE_OCR_2);
  await expect(card).toContainText(HOSTILE_PAGE);
  expect(await page.locator("article.ad img:not([src^='ads/'])").count()).toBe(0);
  expect(await page.locator("script").count()).toBe(0);

  // Every thumbnail loads once it comes into view (they load lazily), and opens the full image.
  const thumbs = page.locator("article.ad .thumbs img");
  const count = await thumbs.count();
  expect(count).toBeGreaterThanOrEqual(ids.slice(0, 100).length);
  expect(await thumbs.first().getAttribute("loading")).toBe("lazy");
  for (let i = 0; i < count; i++) {
    const img = thumbs.nth(i);
    await img.scrollIntoViewIfNeeded();
    await expect.poll(() => img.evaluate((el) => el.complete && el.naturalWidth), { message: `thumbnail ${i}` }).toBeGreaterThan(0);
    const [src, href] = await img.evaluate((el) => [el.src, el.parentElement.href]);
    expect(href).toBe(src);
  }
  await linksResolve(page, imgs);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "report-images");

  // At phone width nothing runs off the side.
  await page.setViewportSize({ width: 360, height: 780 });
  await page.reload();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await page.screenshot({ path: join(SHOTS, "report-narrow-360.png"), fullPage: false });
  await card.scrollIntoViewIfNeeded();
  const narrowThumb = card.locator(".thumbs img").first();
  await expect.poll(() => narrowThumb.evaluate((el) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  await page.screenshot({ path: join(SHOTS, "report-narrow-360-card.png"), fullPage: false });

  expect(seen.errors).toEqual([]);
  expect(seen.dialogs).toEqual([]);
  expect(seen.requests.filter((u) => !u.startsWith("file://"))).toEqual([]);

  // The policy really holds: an image from the network and an inline script are both refused.
  const refused = await page.evaluate(() => new Promise((done) => {
    const blocked = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      blocked.push(e.effectiveDirective);
      if (blocked.length === 2) done(blocked.sort());
    });
    const img = document.createElement("img");
    img.src = "http://127.0.0.1:9/tracker.png";
    document.body.append(img);
    const s = document.createElement("script");
    s.textContent = "document.title = 'ran'";
    document.body.append(s);
    setTimeout(() => done(blocked.sort()), 3000);
  }));
  expect(refused).toEqual(["img-src", "script-src-elem"]);
  expect(await page.title()).not.toBe("ran");
  // Chromium announces the image's request, then the policy blocks it before it leaves.
  expect(seen.finished.filter((u) => !u.startsWith("file://"))).toEqual([]);
  expect(seen.failed).toEqual([["http://127.0.0.1:9/tracker.png", "csp"]]);
});
