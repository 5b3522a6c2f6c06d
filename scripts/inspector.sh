#!/usr/bin/env bash
# List and call cliq-mcp's tools through the MCP Inspector CLI, against the sandbox (no account needed).
# Needs Node.js and npx, and cliq-mcp installed in any of these ways (the first found is used, and named):
#   this checkout's .venv/bin/cliq-mcp; a `cliq-mcp` console script on PATH (pip, pipx, uv tool);
#   `python3 -m cliq_mcp` where python3 imports it. CLIQ_MCP="<command>" picks one outright.
#   scripts/inspector.sh            # tools/list, then list_chats and get_chat, in both protocol eras
#   scripts/inspector.sh --which    # only say which install it would use
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ -n "${CLIQ_MCP:-}" ]; then
  read -r -a server <<<"$CLIQ_MCP"; how="CLIQ_MCP"
elif [ -x "$here/.venv/bin/cliq-mcp" ]; then
  server=("$here/.venv/bin/cliq-mcp"); how="this checkout's virtual environment"
elif command -v cliq-mcp >/dev/null 2>&1; then
  server=("$(command -v cliq-mcp)"); how="the cliq-mcp console script on PATH"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import cliq_mcp' >/dev/null 2>&1; then
  server=("$(command -v python3)" -m cliq_mcp); how="python3 -m cliq_mcp"
else
  echo "inspector.sh: no cliq-mcp found: not in $here/.venv, no cliq-mcp on PATH, and python3 cannot import" \
    "cliq_mcp. Install it (pip install cliq-mcp, or the README's command), or set CLIQ_MCP." >&2
  exit 2
fi
echo "inspector.sh: using $how: ${server[*]}" >&2
[ "${1:-}" = "--which" ] && exit 0

server+=(--sandbox --audit-log off)
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
