#!/usr/bin/env bash
# List and call cliq-mcp's tools through the MCP Inspector CLI, against the sandbox (no account needed).
# Needs Node.js and npx; run from the repository root after the README's install command.
#   scripts/inspector.sh            # tools/list, then list_chats and get_chat, in both protocol eras
set -euo pipefail
cd "$(dirname "$0")/.."
server=(.venv/bin/cliq-mcp --sandbox --audit-log off)
[ -x .venv/bin/cliq-mcp ] || server=(python3 -m cliq_mcp --sandbox --audit-log off)
export HOME="${INSPECTOR_HOME:-$(mktemp -d)}"   # the Inspector writes ~/.mcp-inspector/
inspector=(npx --yes @modelcontextprotocol/inspector@2 --cli)
for era in legacy auto; do
  echo "== $era: tools/list" >&2
  "${inspector[@]}" "${server[@]}" --protocol-era "$era" --method tools/list --format json -q \
    | python3 -c 'import json,sys; print("\n".join(t["name"] for t in json.load(sys.stdin)["result"]["tools"]))'
  echo "== $era: list_chats" >&2
  "${inspector[@]}" "${server[@]}" --protocol-era "$era" --method tools/call --tool-name list_chats \
    --tool-args-json '{"limit": 3}'
  echo "== $era: get_chat" >&2
  "${inspector[@]}" "${server[@]}" --protocol-era "$era" --method tools/call --tool-name get_chat \
    --tool-args-json '{"chat_id": "2890538000000099999", "include": "last_message_info"}'
done
