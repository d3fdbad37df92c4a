// Playwright drives Debian's Chromium (never a downloaded browser) against the real aao-export
// binary, started on loopback by global-setup.mjs. One worker: the tests share one server and the
// machine has two cores.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.mjs/,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  globalSetup: "./global-setup.mjs",
  globalTeardown: "./global-teardown.mjs",
  reporter: [["list"], ["json", { outputFile: "../../target/ui-results.json" }]],
  outputDir: "../../target/ui-test-output",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1200, height: 900 },
    launchOptions: {
      executablePath: process.env.AAO_CHROMIUM || "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"],
    },
  },
});
