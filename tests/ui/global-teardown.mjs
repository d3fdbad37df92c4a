// Stops the servers global-setup.mjs started, and removes its folder.
import { rmSync } from "node:fs";

export default async function globalTeardown() {
  for (const server of [globalThis.__aaoHurried, globalThis.__aaoServer]) {
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((done) => { server.on("exit", done); setTimeout(done, 10_000); });
    }
  }
  if (globalThis.__aaoDashboard) globalThis.__aaoDashboard.close();
  if (globalThis.__aaoProvider) await globalThis.__aaoProvider.close();
  if (process.env.AAO_WORK) rmSync(process.env.AAO_WORK, { recursive: true, force: true });
}
