#!/usr/bin/env bash
# The README's test command: install everything the tests need, then run the whole suite (arguments are
# passed to pytest). On a fresh machine with Python, apt and npm it needs nothing else:
#   - Debian's chromium (the approval page is tested in a real browser) and redis-server (replicas), by apt;
#   - the official MCP Bundle CLI, @anthropic-ai/mcpb, by npm into .ci/node (tests/test_bundle.py), and the
#     official TypeScript SDK, @modelcontextprotocol/sdk (a client with its default timeout, tests/test_ts_client.py);
#   - this package, editable (the working tree is what runs), with its test extra, in .venv.
# What it cannot install it names, with the command that would, before running anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

apt_wanted=()
[ -x /usr/bin/chromium ] || apt_wanted+=(chromium)
command -v redis-server >/dev/null 2>&1 || apt_wanted+=(redis-server)
mcpb_there() { [ -d .ci/node/node_modules/@anthropic-ai/mcpb ] || command -v mcpb >/dev/null 2>&1; }
ts_sdk_there() { [ -d .ci/node/node_modules/@modelcontextprotocol/sdk ]; }

problems=()
if [ ${#apt_wanted[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    problems+=("install ${apt_wanted[*]} with your package manager (Debian: apt-get install ${apt_wanted[*]})")
  elif [ "$sudo" = "none" ]; then
    problems+=("as root: apt-get install -y ${apt_wanted[*]}")
  else
    echo "installing ${apt_wanted[*]} (apt)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_wanted[@]}" >/dev/null
  fi
fi
if ! mcpb_there || ! ts_sdk_there; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing @anthropic-ai/mcpb and @modelcontextprotocol/sdk (npm, into .ci/node)" >&2
    npm install --no-save --no-audit --no-fund --prefix .ci/node @anthropic-ai/mcpb@2 \
      @modelcontextprotocol/sdk@1 >/dev/null
  else
    problems+=("install Node.js and npm, then: npm install --no-save --prefix .ci/node @anthropic-ai/mcpb@2 \
@modelcontextprotocol/sdk@1")
  fi
fi
if [ ${#problems[@]} -gt 0 ]; then
  echo "The tests need what this script could not install. Nothing was run. Please:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
exec .venv/bin/pytest -q "$@"
