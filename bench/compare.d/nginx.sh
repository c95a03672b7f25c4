# The fixed-answer upstream and the bare reverse-proxy hop, each its own nginx (one worker,
# in the foreground, as this script's child) with its config and logs in the run's temp
# dir, never the system service. Sourced.

# The common top of both configs: one worker, no access log, temp paths in the run's dir.
nginx_head() {
  local name=$1
  mkdir -p "$WORK/$name"
  cat <<EOF
worker_processes 1;
daemon off;
pid $WORK/$name/nginx.pid;
error_log $WORK/$name/error.log warn;
$([[ $(id -u) == 0 ]] && echo "user root;")
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $WORK/$name/body;
  proxy_temp_path $WORK/$name/proxy;
  fastcgi_temp_path $WORK/$name/fastcgi;
  uwsgi_temp_path $WORK/$name/uwsgi;
  scgi_temp_path $WORK/$name/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
EOF
}

# run_nginx NAME PORT: nginx with $WORK/NAME.conf as this shell's child ($NGINX_PID), once it
# answers on PORT.
run_nginx() {
  "$NGINX" -p "$WORK/$1" -e "$WORK/$1/error.log" -c "$WORK/$1.conf" &
  NGINX_PID=$!
  wait_http "http://127.0.0.1:$2/" 10 "$NGINX_PID" ||
    die "nginx ($1) did not start: $(tail -n 5 "$WORK/$1/error.log")"
}

# `set` lines and a `return` that answer with a file's content: nginx reads a token of at most
# 4 KB, so the content is split by lines into variables of under 3,000 characters, each a
# single-quoted string with newlines as \n (nginx turns them back).
nginx_return() {
  local file=$1 prefix=$2
  grep -q "'" "$file" && die "$file must not contain a single quote"
  awk -v p="$prefix" -v n=0 -v q="'" '
    function flush() { if (cur != "") { printf "      set $%s%d %s%s%s;\n", p, n, q, cur, q; names = names "$" p n; n++; cur = "" } }
    { line = $0 "\\n"; if (length(cur) + length(line) > 3000) flush(); cur = cur line }
    END { flush(); printf "      return 200 \"%s\";\n", names }
  ' "$file"
}

# POST /v1/chat/completions: a fixed chat completion; /sse/v1/chat/completions: the same
# answer streamed as fixed server-sent events (chunks, then a usage chunk, then [DONE]).
start_upstream() {
  UPSTREAM_PORT=$(free_port)
  {
    nginx_head upstream
    cat <<EOF
  server {
    listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
    location = /v1/chat/completions {
      default_type application/json;
$(nginx_return "$HERE/completion.json" json)
    }
    location = /sse/v1/chat/completions {
      default_type text/event-stream;
      add_header Cache-Control no-cache;
$(nginx_return "$HERE/completion.sse" sse)
    }
  }
}
EOF
  } >"$WORK/upstream.conf"
  run_nginx upstream "$UPSTREAM_PORT"
  UPSTREAM_PID=$NGINX_PID
  UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT
}

# Forwards everything to the upstream over kept-alive connections, and does nothing else
# (streams unbuffered, as a gateway must).
start_hop() {
  HOP_PORT=$(free_port)
  {
    nginx_head hop
    cat <<EOF
  upstream fixed {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$HOP_PORT backlog=4096;
    location / {
      proxy_pass http://fixed;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /sse/ {
      proxy_pass http://fixed;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
  } >"$WORK/hop.conf"
  run_nginx hop "$HOP_PORT"
  HOP_PID=$NGINX_PID
  HOP_URL=http://127.0.0.1:$HOP_PORT
}
