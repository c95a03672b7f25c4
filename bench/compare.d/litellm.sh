# LiteLLM's proxy in front of the same nginx upstream: one worker, no database (no spend
# logs), the upstream as an OpenAI-compatible model. Sourced.

# Starts it at $LITELLM_URL ($LITELLM_PID, key $LITELLM_KEY, version $LITELLM_VERSION); non-zero if it does
# not come up within two minutes.
start_litellm() {
  local port
  port=$(free_port)
  cat >"$WORK/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: $UPSTREAM_URL/v1
      api_key: bench
litellm_settings:
  telemetry: false
YAML
  LITELLM_VERSION=$("$BENCH/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')
  say "starting LiteLLM $LITELLM_VERSION"
  # The price map is read from the package, not fetched; no DATABASE_URL, so no database.
  # It refuses to start without a master key, which callers then send as their key.
  LITELLM_KEY=sk-compare-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  env -u DATABASE_URL LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_MASTER_KEY="$LITELLM_KEY" \
    "$LITELLM" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$port" --num_workers 1 \
    >"$WORK/litellm.log" 2>&1 &
  LITELLM_PID=$!
  LITELLM_URL=http://127.0.0.1:$port
  wait_http "$LITELLM_URL/health/liveliness" 120 "$LITELLM_PID" &&
    curl -sf -o /dev/null -H "authorization: Bearer $LITELLM_KEY" -H 'content-type: application/json' -d @"$HERE/request.json" "$LITELLM_URL/v1/chat/completions"
}
