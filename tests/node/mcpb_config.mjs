// How Claude Desktop turns an installed bundle into the command it starts: @anthropic-ai/mcpb's own
// getMcpConfigForManifest (variable substitution of ${__dirname} and ${user_config.*}, defaults first).
//   node mcpb_config.mjs <mcpb package dir> <unpacked bundle dir> '<user config JSON>'
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, dir, userConfig] = process.argv.slice(2);
const { getMcpConfigForManifest } = await import(pathToFileURL(join(pkg, "dist", "index.js")).href);
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: dir,
  systemDirs: { HOME: process.env.HOME },
  userConfig: JSON.parse(userConfig),
  pathSeparator: "/",
});
process.stdout.write(JSON.stringify(config ?? null));
