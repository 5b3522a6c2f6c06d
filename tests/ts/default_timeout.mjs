// A client of the official TypeScript SDK, with its default request timeout, calls a destructive tool of a
// cliq-mcp server that can ask only through its approval page, and nobody approves: the call must end with
// the server's "not done yet" answer, not with the client's timeout.
// Usage: node default_timeout.mjs <sdk dir> <python> -- prints one JSON line.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [sdk, python] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(join(sdk, "dist", "esm", p)).href);
const { Client } = await load("client/index.js");
const { StdioClientTransport } = await load("client/stdio.js");
const { DEFAULT_REQUEST_TIMEOUT_MSEC } = await load("shared/protocol.js");

const transport = new StdioClientTransport({
  command: python, args: ["-m", "cliq_mcp", "--sandbox"], env: { ...process.env }, stderr: "ignore",
});
const client = new Client({ name: "ts-default-timeout", version: "1.0.0" }); // no elicitation: the page asks
await client.connect(transport);
const started = Date.now();
let out;
try {
  const result = await client.callTool({ name: "close_chat", arguments: { chat_id: "2890538000000099999" } });
  const text = result.content.map((c) => c.text ?? "").join("\n");
  out = { answered: true, isError: result.isError ?? false, text };
} catch (error) {
  out = { answered: false, error: String(error) };
}
out.seconds = (Date.now() - started) / 1000;
out.timeoutMs = DEFAULT_REQUEST_TIMEOUT_MSEC;
console.log(JSON.stringify(out));
await client.close();
