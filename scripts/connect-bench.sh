#!/usr/bin/env bash
# FileStreamSource -> topic -> FileStreamSink throughput of `trib connect`
# against `trib produce` + `trib consume` on the same file, in one run on a
# fresh `trib dev` broker. Usage: scripts/connect-bench.sh [MB] (default 1024).
# Needs curl. Prints MB/s for both and the ratio.
set -euo pipefail
MB=${1:-1024}
TRIB=${TRIB:-$(mktemp -d)/trib}
[ -x "$TRIB" ] || go build -o "$TRIB" ./cmd/trib
W=$(mktemp -d)
trap 'kill $DEV $WORKER 2>/dev/null || true; wait 2>/dev/null; rm -rf "$W"' EXIT

# ~100-byte lines of text, MB megabytes.
python3 - "$W/in.txt" "$MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = b"%09d " + b"x" * 89 + b"\n"
with open(path, "wb") as f:
    n = mb * 1024 * 1024 // 100
    buf = bytearray()
    for i in range(n):
        buf += line % i
        if len(buf) > 1 << 20:
            f.write(buf); buf = bytearray()
    f.write(buf)
PY
SIZE=$(stat -c %s "$W/in.txt")

"$TRIB" dev --data-dir "$W/data" --listen 127.0.0.1:0 >"$W/dev.log" 2>&1 & DEV=$!
until grep -q 'Bootstrap server:' "$W/dev.log"; do sleep 0.2; done
B=$(sed -n 's/.*Bootstrap server: //p' "$W/dev.log")
"$TRIB" connect --brokers "$B" --listen 127.0.0.1:0 --set offset.flush.interval.ms=1000 >"$W/worker.log" 2>&1 & WORKER=$!
until grep -q 'REST API:' "$W/worker.log"; do sleep 0.2; done
U=$(grep -o 'http://[0-9.:]*' "$W/worker.log" | head -1)
until curl -sf "$U/health" >/dev/null; do sleep 0.2; done

now() { date +%s.%N; }
t0=$(now)
curl -sf -X POST -H 'Content-Type: application/json' "$U/connectors" \
  -d "{\"name\":\"src\",\"config\":{\"connector.class\":\"FileStreamSource\",\"file\":\"$W/in.txt\",\"topic\":\"bench\"}}" >/dev/null
curl -sf -X POST -H 'Content-Type: application/json' "$U/connectors" \
  -d "{\"name\":\"dst\",\"config\":{\"connector.class\":\"FileStreamSink\",\"file\":\"$W/out.txt\",\"topics\":\"bench\"}}" >/dev/null
until [ "$(stat -c %s "$W/out.txt" 2>/dev/null || echo 0)" -ge "$SIZE" ]; do sleep 0.2; done
t1=$(now)
# The worker's CPU time (user + system): steadier than wall time on a busy machine.
CPU=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' /proc/$WORKER/stat)
cmp -s "$W/in.txt" "$W/out.txt" || { echo "sink file differs from the source file"; exit 1; }

t2=$(now)
"$TRIB" produce -b "$B" plain <"$W/in.txt" >/dev/null 2>&1
t3=$(now)
"$TRIB" consume -b "$B" plain --from-beginning -e -q >"$W/out2.txt"
t4=$(now)
cmp -s "$W/in.txt" "$W/out2.txt" || { echo "consumed file differs from the source file"; exit 1; }

python3 - "$SIZE" "$t0" "$t1" "$t2" "$t3" "$t4" <<'PY'
import sys
size, t0, t1, t2, t3, t4 = int(sys.argv[1]), *map(float, sys.argv[2:])
mb = size / 1e6
c, p, q = t1 - t0, t3 - t2, t4 - t3
print(f"file {mb:.0f} MB")
print(f"connect FileStreamSource->topic->FileStreamSink: {c:.1f} s, {mb / c:.1f} MB/s")
print(f"trib produce {p:.1f} s + trib consume {q:.1f} s = {p + q:.1f} s, {mb / (p + q):.1f} MB/s")
print(f"connect time / (produce + consume) time = {c / (p + q):.2f}")
PY
echo "connect worker CPU time: $CPU s"
