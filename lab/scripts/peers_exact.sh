#!/usr/bin/env bash
# peers_exact.sh N [ROUNDS] — the peers' side-by-side run (../shared/peers: floor, Soda, GX) with three
# Tidewatch configs on bench.orders_N, alternating in one run:
#   tw_default  a new user's config (key id, timestamp_column, every column profiled);
#   tw_same     that config plus the peers' two uniqueness checks (what side_by_side.sh runs);
#   tw_exact    the peers' exact checks in our config format: the 10 columns Soda checks for NULLs
#               (columns:), row_count, freshness, null_count = 0 on each, duplicates on id and
#               customer_id; the schema snapshot is always taken.
# Needs TW=path/to/release/tidewatch, setup.sh and gen.sh N run first. Prints medians and ratios.
set -uo pipefail
PEERS=${PEERS:-$(cd "$(dirname "$0")/../../../shared/peers" && pwd)}
. "$PEERS/env.sh"
N=$(norm_n "${1:?usage: peers_exact.sh N [ROUNDS]}"); ROUNDS=${2:-3}; T="orders_$N"
: "${TW:?set TW to the tidewatch binary}"
W=$(mktemp -d /tmp/tw-exact.XXXXXX)
URL="postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
cfg_head() { printf 'version: 1\nstore: sqlite://%s/%s.db\nsources:\n  bench: { kind: postgres, url: "%s" }\nmonitors:\n  - name: orders\n    source: bench\n    table: bench.%s\n    timestamp_column: created_at\n    key: [id]\n' "$W" "$1" "$URL" "$T"; }
cfg_head default >"$W/default.yaml"
{ cfg_head same; printf '    checks: [row_count > 0, freshness < 1d, duplicate_count(id) = 0, duplicate_count(customer_id) = 0]\n'; } >"$W/same.yaml"
NULLABLE="channel country city email coupon_code notes tax weight_kg updated_at payload"
{ cfg_head exact
  printf '    columns: [%s]\n    checks:\n      - row_count > 0\n      - freshness < 1d\n' "$(echo $NULLABLE | sed 's/ /, /g')"
  for c in $NULLABLE; do printf '      - null_count(%s) = 0\n' "$c"; done
  printf '      - duplicate_count(id) = 0\n      - duplicate_count(customer_id) = 0\n'; } >"$W/exact.yaml"
for c in default same exact; do "$TW" validate -c "$W/$c.yaml" >/dev/null || { echo "config $c does not validate"; exit 2; }; done
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.3f}')"; }
run_tool() { case $1 in
  floor) t psql -X -qtA -v tbl="$T" -v sample= -f "$PEERS_DIR/sql/profile.sql" ;;
  soda) t bash "$PEERS_DIR/soda/run_soda.sh" "$T" ;; gx) t bash "$PEERS_DIR/gx/run_gx.sh" "$T" ;;
  tw_*) t "$TW" scan -c "$W/${1#tw_}.yaml" --format json ;; esac; }
tools="floor soda gx tw_default tw_same tw_exact"
declare -A R
for tool in $tools; do run_tool "$tool" >/dev/null; R[$tool]=""; done   # warm-up and first scans
for _ in $(seq 1 "$ROUNDS"); do for tool in $tools; do R[$tool]="${R[$tool]} $(run_tool "$tool")"; done; done
med() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
fl=$(med "${R[floor]}")
printf '%-12s %10s %8s   %s\n' tool median_s x_floor runs
for tool in $tools; do m=$(med "${R[$tool]}"); printf '%-12s %10s %8s   %s\n' "$tool" "$m" "$(python3 -c "print(f'{$m/$fl:.2f}')")" "${R[$tool]}"; done
rm -rf "$W"
